"""Demo data: the fictional province 示例省 (``python -m office demo``).

Four levels of government (省 → 市 → 县/区 → 乡镇/街道) with their offices, departments and
divisions, a few hundred people holding every role, secretaries linked to leaders, some
people with a second post (兼职) and one running delegation (出差委托). Everything is
deterministic (``random.Random(2026)``), every demo account shares one password, and loading
twice changes nothing. Rows are written directly (the password is hashed once) and the load
is recorded as a single audit event, so it takes about a second on SQLite.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import timedelta

import click
from sqlalchemy import func, select

from office.audit.services import record
from office.auth.passwords import check_policy, hash_password
from office.context import SYSTEM
from office.db import utcnow
from office.errors import ServiceError
from office.extensions import db
from office.identity.models import (
    Delegation,
    Post,
    PostRole,
    Role,
    SecretaryLink,
    Unit,
    UnitKind,
    User,
)
from office.identity.services import pinyin_of

#: The marker unit: when it exists the demo has been loaded.
MARKER_SHORT_NAME = "示政办"

ALREADY_LOADED = "演示数据已存在，跳过。"

#: Feature packages add their demo content here (office never imports them): each hook runs
#: after the people are committed, gets the demo password (a keeper's second factor when
#: sealing) and returns a short summary line.
DEMO_HOOKS: list = []


def demo_hook(fn):
    DEMO_HOOKS.append(fn)
    return fn


#: Fixed accounts to try (README): username, role (Chinese), what to look at.
DEMO_ACCOUNTS: list[tuple[str, str, str]] = [
    ("leader", "机关领导", "示例省人民政府副省长；另一位副省长出差期间把工作委托给他"),
    ("secretary", "秘书", "副省长 leader 的秘书（办公厅秘书二处），可代领导办理"),
    ("clerk", "收发员", "示例省人民政府办公厅收发员：来文登记、分办"),
    ("staff", "经办人", "办公厅综合处科员：起草、经办"),
    ("divhead", "处室负责人", "办公厅综合处处长：处室审核"),
    ("unitadmin", "单位管理员", "办公厅单位管理员：管理本厅机构和人员"),
    ("supervisor", "督查员", "办公厅督查室督查员：督查督办"),
    ("sealkeeper", "印章管理员", "办公厅印章管理员：用印审批登记"),
    ("meetingclerk", "会务员", "办公厅会务员：会议通知、签到"),
    ("county", "收发员", "西河县人民政府办公室收发员：只看得到本县，演示层级隔离"),
]

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝"
    "龚邵万钱严武戴莫孔向汤"
)
GIVEN_CHARS = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超霞平刚华建国文辉鹏红玲兰斌宇浩凯健俊帆旭宁婷琳颖晨"
    "欣怡佳梓雨思博志海林峰波飞鑫成东亮龙阳春晓雪梅云瑞庆德荣新立振永昌兴彬宏毅坤晶慧倩蕾璐萍"
    "洁莉燕楠蓉玉翔维嘉"
)
MOBILE_PREFIXES = (
    [f"13{d}" for d in range(10)] + [f"15{d}" for d in "01235789"] + [f"18{d}" for d in range(10)]
)
STAFF_TITLES = ["科员", "一级科员", "主任科员", "四级主任科员", "一级主任科员"]

# ------------------------------------------------------------------ the organisation tree

#: Provincial departments: name, short name, leader title, divisions.
PROVINCE_DEPARTMENTS = [
    ("示例省发展和改革委员会", "示发改", "主任", ["办公室", "综合规划处", "固定资产投资处"]),
    ("示例省教育厅", "示教", "厅长", ["办公室", "基础教育处"]),
    ("示例省财政厅", "示财", "厅长", ["办公室", "预算处", "国库处"]),
    ("示例省自然资源厅", "示自然资", "厅长", ["办公室", "国土空间规划处"]),
]
PROVINCE_OFFICE_DIVISIONS = ["秘书一处", "秘书二处", "综合处", "督查室", "文电处"]


@dataclass
class County:
    name: str
    short: str
    head: str  # 区长 / 县长
    office: tuple[str, str]
    department: tuple[str, str, list[str]]
    towns: list[tuple[str, str]]  # name, leader title


@dataclass
class City:
    name: str
    short: str
    office: tuple[str, str]
    departments: list[tuple[str, str, list[str]]]
    counties: list[County] = field(default_factory=list)


CITIES = [
    City(
        "示例市人民政府",
        "示市",
        ("示例市人民政府办公室", "示市办"),
        [("示例市教育局", "示市教", ["办公室", "基础教育科"]), ("示例市财政局", "示市财", ["预算科"])],
        [
            County(
                "东山区人民政府",
                "东区",
                "区长",
                ("东山区人民政府办公室", "东区办"),
                ("东山区教育局", "东区教", ["综合股"]),
                [("新华街道办事处", "主任"), ("东湖街道办事处", "主任")],
            ),
            County(
                "西河县人民政府",
                "西县",
                "县长",
                ("西河县人民政府办公室", "西县办"),
                ("西河县财政局", "西县财", ["预算股"]),
                [("城关镇人民政府", "镇长"), ("河口乡人民政府", "乡长")],
            ),
        ],
    ),
    City(
        "样本市人民政府",
        "样市",
        ("样本市人民政府办公室", "样市办"),
        [("样本市教育局", "样市教", ["办公室"]), ("样本市财政局", "样市财", ["预算科", "国库科"])],
        [
            County(
                "南湖区人民政府",
                "南区",
                "区长",
                ("南湖区人民政府办公室", "南区办"),
                ("南湖区教育局", "南区教", ["综合股"]),
                [("湖滨街道办事处", "主任"), ("南苑街道办事处", "主任")],
            ),
            County(
                "北岭县人民政府",
                "北县",
                "县长",
                ("北岭县人民政府办公室", "北县办"),
                ("北岭县财政局", "北县财", ["预算股"]),
                [("城关镇人民政府", "镇长"), ("岭上镇人民政府", "镇长")],
            ),
        ],
    ),
]


class _Builder:
    """Adds units and people to the session, keeping names, usernames and mobiles unique."""

    def __init__(self, password_hash: str, reserved_usernames: set[str]) -> None:
        self.rng = random.Random(2026)
        self.password_hash = password_hash
        self.usernames = set(db.session.scalars(select(User.username))) | reserved_usernames
        self.names = set(db.session.scalars(select(User.name)))
        self.mobiles = set(db.session.scalars(select(User.mobile).where(User.mobile.is_not(None))))
        self.short_names = set(
            db.session.scalars(select(Unit.short_name).where(Unit.short_name.is_not(None)))
        )
        self.units: list[Unit] = []
        self.users: list[User] = []
        self.links: list[SecretaryLink] = []

    # -------------------------------------------------------------- units

    def unit(self, parent: Unit, name: str, kind: UnitKind, short: str | None = None) -> Unit:
        if short in self.short_names:
            short = None  # taken by a unit the operator made: keep going without a code
        if short:
            self.short_names.add(short)
        unit = Unit(
            name=name,
            kind=kind,
            parent_id=parent.id,
            short_name=short,
            sort_order=sum(1 for u in self.units if u.parent_id == parent.id),
            depth=parent.depth + 1,
        )
        db.session.add(unit)
        db.session.flush()
        unit.path = f"{parent.path}{unit.id}/"
        self.units.append(unit)
        return unit

    # -------------------------------------------------------------- people

    def _name(self) -> str:
        name = ""
        for _ in range(50):
            given = "".join(self.rng.choices(GIVEN_CHARS, k=1 if self.rng.random() < 0.35 else 2))
            name = self.rng.choice(SURNAMES) + given
            if name not in self.names:
                break
        self.names.add(name)
        return name

    def _username(self, name: str) -> str:
        base = re.sub(r"[^a-z0-9]", "", pinyin_of(name)[0]) or "user"
        username, n = base, 1
        while username in self.usernames or len(username) < 2:
            n += 1
            username = f"{base}{n}"
        self.usernames.add(username)
        return username

    def _mobile(self) -> str:
        while True:
            mobile = self.rng.choice(MOBILE_PREFIXES) + f"{self.rng.randrange(10**8):08d}"
            if mobile not in self.mobiles:
                self.mobiles.add(mobile)
                return mobile

    def person(self, unit: Unit, title: str, roles: list[Role], username: str | None = None) -> User:
        name = self._name()
        py, initials = pinyin_of(name)
        user = User(
            username=username or self._username(name),
            name=name,
            pinyin=py,
            pinyin_initials=initials,
            mobile=self._mobile(),
            password_hash=self.password_hash,
        )
        if username:
            self.usernames.add(username)
        self.post(user, unit, title, roles)
        db.session.add(user)
        self.users.append(user)
        return user

    def post(self, user: User, unit: Unit, title: str, roles: list[Role]) -> Post:
        post = Post(unit=unit, title=title, is_primary=not user.posts, sort_order=len(user.posts))
        post.roles = [PostRole(role=r) for r in roles]
        user.posts.append(post)
        return post

    def staff(self, unit: Unit, low: int = 2, high: int = 4) -> list[User]:
        return [
            self.person(unit, self.rng.choice(STAFF_TITLES), [Role.STAFF])
            for _ in range(self.rng.randint(low, high))
        ]

    def link(self, secretary: User, leader: User) -> None:
        self.links.append(SecretaryLink(secretary=secretary, leader=leader))

    # -------------------------------------------------------------- building blocks

    def office_staff(
        self, office: Unit, supervisor_unit: Unit | None = None, usernames: dict[str, str] | None = None
    ) -> None:
        """收发员, 印章管理员, 会务员, 督查员 and 单位管理员 of a government office."""
        usernames = usernames or {}
        spec = [
            ("clerk", "收发员", Role.CLERK, office),
            ("seal_keeper", "印章管理员", Role.SEAL_KEEPER, office),
            ("meeting_clerk", "会务员", Role.MEETING_CLERK, office),
            ("supervisor", "督查员", Role.SUPERVISOR, supervisor_unit or office),
            ("unit_admin", "单位管理员", Role.UNIT_ADMIN, office),
        ]
        for key, title, role, unit in spec:
            self.person(unit, title, [role], usernames.get(key))

    def department(
        self,
        parent: Unit,
        name: str,
        short: str | None,
        leader_title: str,
        divisions: list[str],
        head_title: str,
    ) -> Unit:
        dept = self.unit(parent, name, UnitKind.DEPARTMENT, short)
        self.person(dept, leader_title, [Role.LEADER])
        self.person(dept, "单位管理员", [Role.UNIT_ADMIN])
        self.person(dept, "收发员", [Role.CLERK])
        self.person(dept, "印章管理员", [Role.SEAL_KEEPER])
        for div_name in divisions:
            div = self.unit(dept, div_name, UnitKind.DIVISION)
            self.person(div, "主任" if div_name == "办公室" else head_title, [Role.DIVISION_HEAD])
            self.staff(div)
        return dept


def _root() -> Unit:
    root = db.session.scalar(select(Unit).where(Unit.parent_id.is_(None)).order_by(Unit.id))
    if root is None:
        root = Unit(name="示例省人民政府", short_name="示政", kind=UnitKind.PROVINCE, depth=0)
        db.session.add(root)
        db.session.flush()
        root.path = f"/{root.id}/"
    return root


def _build_province(b: _Builder, root: Unit) -> tuple[User, User]:
    """The provincial government, its 办公厅 and departments; returns (leader, delegator)."""
    office = b.unit(root, "示例省人民政府办公厅", UnitKind.DEPARTMENT, MARKER_SHORT_NAME)
    divisions = {name: b.unit(office, name, UnitKind.DIVISION) for name in PROVINCE_OFFICE_DIVISIONS}

    governor = b.person(root, "省长", [Role.LEADER])
    executive = b.person(root, "常务副省长", [Role.LEADER])
    leader = b.person(root, "副省长", [Role.LEADER], "leader")
    vice = b.person(root, "副省长", [Role.LEADER])
    b.link(b.person(divisions["秘书一处"], "秘书", [Role.SECRETARY]), governor)
    b.link(b.person(divisions["秘书一处"], "秘书", [Role.SECRETARY]), executive)
    b.link(b.person(divisions["秘书二处"], "秘书", [Role.SECRETARY], "secretary"), leader)
    b.link(b.person(divisions["秘书二处"], "秘书", [Role.SECRETARY]), vice)

    general = b.person(office, "秘书长", [Role.LEADER])
    deputy1 = b.person(office, "副秘书长", [Role.LEADER])
    b.person(office, "副秘书长", [Role.LEADER])
    office_secretary = b.person(office, "秘书", [Role.SECRETARY])
    b.link(office_secretary, general)
    b.link(office_secretary, deputy1)
    b.post(deputy1, divisions["督查室"], "主任", [Role.SUPERVISOR])  # 副秘书长兼督查室主任
    b.office_staff(
        office,
        supervisor_unit=divisions["督查室"],
        usernames={
            "clerk": "clerk",
            "seal_keeper": "sealkeeper",
            "meeting_clerk": "meetingclerk",
            "supervisor": "supervisor",
            "unit_admin": "unitadmin",
        },
    )
    for name, div in divisions.items():
        head_title = "副主任" if name == "督查室" else "处长"
        b.person(div, head_title, [Role.DIVISION_HEAD], "divhead" if name == "综合处" else None)
        if name == "综合处":
            b.person(div, "一级主任科员", [Role.STAFF], "staff")
        people = b.staff(div)
        if name == "综合处":
            b.post(people[0], divisions["文电处"], "机要员", [Role.CLERK])  # 兼职

    for name, short, leader_title, divs in PROVINCE_DEPARTMENTS:
        b.department(root, name, short, leader_title, divs, "处长")
    return leader, vice


def _build_city(b: _Builder, root: Unit, city: City) -> None:
    gov = b.unit(root, city.name, UnitKind.CITY, city.short)
    office = b.unit(gov, city.office[0], UnitKind.DEPARTMENT, city.office[1])
    mayor = b.person(gov, "市长", [Role.LEADER])
    vice = b.person(gov, "副市长", [Role.LEADER])
    b.link(b.person(office, "秘书", [Role.SECRETARY]), mayor)
    b.link(b.person(office, "秘书", [Role.SECRETARY]), vice)
    director = b.person(office, "主任", [Role.LEADER])
    b.person(office, "副主任", [Role.LEADER])
    b.post(director, gov, "副秘书长", [Role.LEADER])  # 市政府副秘书长、办公室主任
    b.office_staff(office)
    for name, short, divs in city.departments:
        b.department(gov, name, short, "局长", divs, "科长")
    for county in city.counties:
        _build_county(b, gov, county)


def _build_county(b: _Builder, parent: Unit, county: County) -> None:
    gov = b.unit(parent, county.name, UnitKind.COUNTY, county.short)
    office = b.unit(gov, county.office[0], UnitKind.DEPARTMENT, county.office[1])
    head = b.person(gov, county.head, [Role.LEADER])
    b.person(gov, "副" + county.head, [Role.LEADER])
    b.link(b.person(office, "秘书", [Role.SECRETARY]), head)
    b.person(office, "主任", [Role.LEADER])
    b.person(office, "副主任", [Role.LEADER])
    b.office_staff(office, usernames={"clerk": "county"} if county.short == "西县" else None)
    name, short, divs = county.department
    b.department(gov, name, short, "局长", divs, "股长")
    for town_name, leader_title in county.towns:
        town = b.unit(gov, town_name, UnitKind.TOWNSHIP)
        b.person(town, leader_title, [Role.LEADER])
        b.person(town, "收发员", [Role.CLERK])
        b.staff(town, 2, 2)


def load_demo(password: str) -> str:
    """Load the demo province (idempotent) and commit; returns a one-line summary."""
    if db.session.scalar(select(Unit.id).where(Unit.short_name == MARKER_SHORT_NAME)):
        return ALREADY_LOADED
    try:
        check_policy(password)
    except ServiceError as err:
        raise click.ClickException(f"演示密码不符合密码策略：{err.message}") from None

    b = _Builder(hash_password(password), {u for u, _, _ in DEMO_ACCOUNTS})
    root = _root()
    has_admin = db.session.scalar(
        select(func.count()).select_from(PostRole).where(PostRole.role == Role.ADMIN)
    )
    if not has_admin:  # demo without `init`: someone must be able to administer it
        b.person(root, "系统管理员", [Role.ADMIN], "admin" if "admin" not in b.usernames else None)
    leader, delegator = _build_province(b, root)
    for city in CITIES:
        _build_city(b, root, city)

    db.session.add_all(b.links)
    now = utcnow()
    db.session.add(
        Delegation(
            delegator=delegator,
            delegate=leader,
            starts_at=now,
            ends_at=now + timedelta(days=7),
            reason="出差（赴外省考察学习），期间工作委托代为处理",
        )
    )
    db.session.flush()
    dual = sum(1 for u in b.users if len(u.posts) > 1)
    posts = sum(len(u.posts) for u in b.users)
    record(
        SYSTEM,
        "office:system:demo",
        object_type="system",
        details={
            "root_unit": root.name,
            "units": len(b.units),
            "users": len(b.users),
            "posts": posts,
            "dual_posts": dual,
            "secretary_links": len(b.links),
            "delegations": 1,
        },
    )
    db.session.commit()
    extra = "".join(hook(password) for hook in DEMO_HOOKS)
    return (
        f"已载入演示数据：{len(b.units)} 个机构，{len(b.users)} 名人员（{posts} 个职务，{dual} 人兼职），"
        f"{len(b.links)} 组秘书关系，1 条出差委托；演示账号统一使用所设密码，"
        f"可试用：{'、'.join(u for u, _, _ in DEMO_ACCOUNTS)}。{extra}"
    )
