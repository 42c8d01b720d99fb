"""The shared taxonomy of what needs ask for and offers provide.

Category codes are dotted paths (``produce.fruit.kiwifruit``); a category's parent is the
path without its last part. Any organisation may post a need in any category: who may
*receive* what is decided where it is offered (a government programme's eligibility rules,
checked by the coordinator's matching). What an organisation may *offer* depends on its kind:
every kind has a vocabulary, the branches of the taxonomy its offers lie under.
"""

import functools
from dataclasses import dataclass

__all__ = [
    "CATEGORIES",
    "SERVES",
    "VOCABULARIES",
    "Category",
    "Vocabulary",
    "can_serve",
    "category_text",
    "family_of",
    "is_within",
    "parent_of",
    "root_of",
]


@dataclass(frozen=True)
class Category:
    code: str
    zh: str
    en: str


_ROWS = [
    ("produce", "农产品", "Farm produce"),
    ("produce.fruit", "水果", "Fruit"),
    ("produce.fruit.kiwifruit", "猕猴桃", "Kiwifruit"),
    ("produce.fruit.apple", "苹果", "Apples"),
    ("produce.fruit.citrus", "柑橘", "Citrus"),
    ("produce.vegetable", "蔬菜", "Vegetables"),
    ("produce.grain", "粮油", "Grain and oil"),
    ("produce.tea", "茶叶", "Tea"),
    ("produce.mushroom", "食用菌", "Mushrooms"),
    ("produce.livestock", "畜禽产品", "Livestock products"),
    ("produce.processed", "农副加工品", "Processed farm products"),
    ("training", "培训", "Training"),
    ("training.livestream", "直播带货培训", "Live-stream selling training"),
    ("training.ecommerce", "电商运营培训", "E-commerce operations training"),
    ("training.incubation", "创业孵化", "Start-up incubation"),
    ("funding", "资金", "Funding"),
    ("funding.subsidy", "补贴", "Subsidy"),
    ("funding.fund", "专项资金", "Special fund"),
    ("funding.loan", "贷款贴息", "Interest-subsidised loan"),
    ("logistics", "物流", "Logistics"),
    ("logistics.cold_chain", "冷链物流", "Cold-chain logistics"),
    ("logistics.express", "快递进村", "Village express delivery"),
    ("logistics.warehouse", "仓储", "Warehousing"),
    ("sales_channel", "销售渠道", "Sales channel"),
    ("sales_channel.platform", "电商平台店铺", "E-commerce platform store"),
    ("sales_channel.livestream", "直播间", "Live-stream sales room"),
    ("sales_channel.supermarket", "商超对接", "Supermarket supply"),
    ("brand", "品牌", "Brand"),
    ("brand.design", "包装设计", "Packaging design"),
    ("brand.county", "区域公用品牌", "County public brand"),
    ("brand.certification", "认证", "Certification (green, organic, geographic indication)"),
    ("technology", "技术", "Technology"),
    ("technology.traceability", "溯源系统", "Traceability"),
    ("technology.agronomy", "农技服务", "Agronomy"),
    ("venue", "场地", "Venue"),
    ("volunteers", "志愿者", "Volunteers"),
    ("social_service", "社会工作服务", "Social-work service"),
    ("social_service.mediation", "纠纷调解", "Dispute mediation"),
    ("social_service.capacity", "能力建设", "Capacity building"),
]

CATEGORIES: dict[str, Category] = {code: Category(code, zh, en) for code, zh, en in _ROWS}


def category_text(code: str, lang: str) -> str:
    """A category's (or family's) name in ``lang`` (zh or en); an unknown code as it is."""
    category = CATEGORIES.get(code)
    return (category.zh if lang == "zh" else category.en) if category else code


def parent_of(code: str) -> str | None:
    head, _, _ = code.rpartition(".")
    return head or None


def is_within(code: str, branch: str) -> bool:
    """Whether ``code`` is ``branch`` or lies below it."""
    return code == branch or code.startswith(branch + ".")


@dataclass(frozen=True)
class Vocabulary:
    """What one kind of stakeholder may post: needs in any category, offers under ``offers``."""

    offers: tuple[str, ...]

    def allows(self, side: str, code: str) -> bool:
        if code not in CATEGORIES:
            return False
        return side == "need" or any(is_within(code, branch) for branch in self.offers)

    def categories(self, side: str) -> list[str]:
        return [code for code in CATEGORIES if self.allows(side, code)]


VOCABULARIES: dict[str, Vocabulary] = {
    "government": Vocabulary(offers=("funding", "training", "venue", "brand.county")),
    "enterprise": Vocabulary(offers=("sales_channel", "logistics", "technology", "training", "brand")),
    "ngo": Vocabulary(offers=("training", "social_service", "volunteers")),
    "community": Vocabulary(offers=("produce", "venue", "volunteers")),
}


def family_of(code: str) -> str:
    """The category family the market groups a category in: its first two levels."""
    return ".".join(code.split(".")[:2])


def root_of(code: str) -> str:
    """The top branch of a category: ``produce.fruit.kiwifruit`` → ``produce``."""
    return code.split(".", 1)[0]


# Which branches of offers can serve a need of each top branch, besides the need's own
# lineage. Produce offers serve procurement needs for the same produce; a traceability
# system serves a brand need; volunteers and social-work services serve each other's needs.
SERVES: dict[str, tuple[str, ...]] = {
    "brand": ("technology.traceability",),
    "volunteers": ("social_service",),
    "social_service": ("volunteers",),
}


@functools.cache
def can_serve(offer_category: str, need_category: str) -> bool:
    """Whether an offer in ``offer_category`` can serve a need in ``need_category``.

    Within one lineage an offer serves a need of the same category, of a narrower one (a
    ``training`` offer serves a ``training.livestream`` need) or of a broader one (a
    ``produce.fruit`` need takes ``produce.fruit.kiwifruit``); across branches, ``SERVES`` says.
    """
    if is_within(offer_category, need_category) or is_within(need_category, offer_category):
        return True
    return any(is_within(offer_category, branch) for branch in SERVES.get(root_of(need_category), ()))
