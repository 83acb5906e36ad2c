"""Safety rules, one module per group; each exposes `check(ctx) -> list[Finding]` (RULES.md section 7).

| Module            | Rule ids                                        |
|-------------------|-------------------------------------------------|
| cardiovascular    | CI-CV                                           |
| psychiatric       | CI-PSY, CI-DEL                                  |
| hepatic           | CI-HEP                                          |
| neuro_ocular      | CI-ICP-IOP                                      |
| endocrine         | CI-ENDO                                         |
| pregnancy         | CI-PREG                                         |
| substance         | CI-SUD                                          |
| rescue            | CI-RESCUE                                       |
| consent           | CI-CONSENT                                      |
| aspiration        | CI-ASP                                          |
| baseline_tests    | PRE-ECG, PRE-LFT, PRE-NONE (`assess`)           |
| dosing            | DOSE-BOLUS, DOSE-RATE, DOSE-MIN, DOSE-ESKETAMINE |
| frequency         | FREQ                                            |
| response          | FREQ-RESPONSE                                   |
| opioids           | OPI-1SPECIES, OPI-PLAN                          |
| baseline_mme      | OPI-BASELINE                                    |
| post_taper        | POST-TAPER                                      |
| sedation          | OPI-BZD, OPI-NALOXONE                           |
| route             | ORAL, ROUTE-NEURAX                              |
"""
