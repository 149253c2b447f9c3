"""The first eval250 HotpotQA question (also in HotpotQA dev) and its gold answer: what the playground tests ask,
typed as a user would."""

QUESTION = ("What movie did actress Irene Jacob complete before the American action crime thriller film directed by "
            "Stuart Bird?")
GOLD = "Beyond the Clouds"
