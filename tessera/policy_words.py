"""The default prompt policy's word list (policy.py): phrases a prompt may not hold, in English and Chinese.

Deliberately short and aimed at what a video generator should never be asked for by default: sexual content
involving minors, intimate imagery of people without their consent, impersonation (deepfakes) and atrocity.
A word list is a floor, not moderation: a deployment replaces it with its own check (`--policy`).
English phrases match whole words, case-insensitively, with an optional plural "s"; Chinese phrases match
anywhere in the prompt (Chinese has no spaces between words).
"""

ENGLISH = (
    "child porn",
    "child pornography",
    "csam",
    "underage nude",
    "underage sex",
    "naked child",
    "nude child",
    "revenge porn",
    "deepfake",
    "beheading",
    "mass shooting",
)

CHINESE = (
    "儿童色情",
    "未成年色情",
    "幼女裸体",
    "儿童裸体",
    "复仇色情",
    "深度伪造",
    "深伪",
    "换脸",
    "斩首",
    "大屠杀",
)
