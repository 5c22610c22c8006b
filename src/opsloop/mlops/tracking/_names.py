"""Readable random run names (``clever-otter-417``), as users of MLflow know them."""

import random

_ADJECTIVES = (
    "able amber bold brave bright calm clever crisp dapper eager fast fierce gentle glad grand happy honest "
    "jolly keen kind lively lucky merry mighty neat nimble noble polite proud quick quiet rare sharp shy "
    "smart snappy solid stately sunny swift tidy upbeat vast warm wise witty zesty"
).split()
_NOUNS = (
    "ant bass bat bear bee bird boar carp cat colt crab crane crow deer doe dove duck eagle eel elk finch "
    "fish fox frog goat goose gull hare hawk hen horse jay kite lark lion lynx mole moth mule newt owl ox "
    "panda perch pig pike ram rat robin seal shark shrew slug snail snake sow squid stag swan toad trout "
    "vole wasp whale wolf worm wren yak zebra"
).split()


def random_run_name() -> str:
    return f"{random.choice(_ADJECTIVES)}-{random.choice(_NOUNS)}-{random.randint(0, 999)}"
