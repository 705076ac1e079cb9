"""Generation jobs through the key pool: create once (`submit`), poll and cancel with the
creating key (`polling`), apply what providers say and settle (`observe`), deliver the
callback notices (`callbacks`). `runtime` holds what every step needs."""
