"""Stable codes shared by every layer: dispute categories, risk levels, region levels, roles.

Codes are storage keys and appear in organisation files and button payloads, so they never
change; the words people read for them live in ``locales/``.
"""

from typing import Final

# The people-mediation statistics categories (人民调解统计口径), in their customary order:
# family 婚姻家庭, neighbor 邻里, housing 房屋宅基地, contract 合同, business 生产经营,
# damages 损害赔偿, land 山林土地, expropriation 征地拆迁, environment 环境污染,
# labor 劳动争议 (incl. 欠薪), medical 医疗, traffic 道路交通事故, property 物业,
# consumer 消费, other 其他. Their names in each language are the cat.* messages.
CATEGORIES: Final = (
    "family",
    "neighbor",
    "housing",
    "contract",
    "business",
    "damages",
    "land",
    "expropriation",
    "environment",
    "labor",
    "medical",
    "traffic",
    "property",
    "consumer",
    "other",
)

# general (一般) is handled at village level, significant (较大) at township,
# major (重大) at county.
RISKS: Final = ("general", "significant", "major")

LEVELS: Final = ("prefecture", "county", "township", "village", "grid")

UNIT_KINDS: Final = ("center", "mediation", "department")

STAFF_ROLES: Final = ("grid_worker", "mediator", "dispatcher", "leader", "dept_staff", "admin")
ROLES: Final = ("citizen", *STAFF_ROLES)
