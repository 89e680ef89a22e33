"""HTML pages: the directory (通讯录), admin pages for units and people, delegations."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from office.auth.guard import login_required
from office.context import current_actor
from office.errors import ServiceError
from office.extensions import db
from office.fields import bounded_int
from office.identity import access, services
from office.identity.schemas import DelegationIn, PostIn, UnitIn, UnitPatch, UserIn, UserPatch
from office.web.forms import parse_form, service_errors

bp = Blueprint("identity", __name__, template_folder="templates")


def _int_arg(name: str) -> int | None:
    return bounded_int(request.args.get(name))


@bp.get("/directory")
@login_required
def directory():
    q = (request.args.get("q") or "").strip()[:50]
    unit_id = _int_arg("unit_id")
    page_no = _int_arg("page") or 1
    unit = services.get_unit(g.user, unit_id) if unit_id else None
    result = None
    if q or unit:
        result = services.search_users(
            g.user, q=q or None, unit_id=unit_id, include_subunits=bool(q), page=page_no, per_page=30
        )
    partial = request.headers.get("HX-Request") and not request.headers.get("HX-History-Restore-Request")
    template = "identity/_people.html" if partial else "identity/directory.html"
    return render_template(template, tree=services.unit_tree(g.user), q=q, unit=unit, result=result)


@bp.get("/directory/people/<int:user_id>")
@login_required
def person(user_id: int):
    user = services.get_user(g.user, user_id)
    return render_template(
        "identity/person.html",
        person=user,
        secretaries=services.secretaries_of(user),
        leaders=services.leaders_of(user),
        can_manage=access.can_manage_user(g.user, user),
    )


# ---------------------------------------------------------------- admin: units


def _require_manager() -> None:
    if not access.managed_paths(g.user):
        abort(404)


@bp.route("/admin/units", methods=["GET", "POST"])
@login_required
def admin_units():
    _require_manager()
    errors: dict[str, list[str]] = {}
    form: dict = {}
    if request.method == "POST":
        form = request.form.to_dict()
        data, errors = parse_form(UnitIn())
        if not errors:
            try:
                unit = services.create_unit(current_actor(), **data)
                db.session.commit()
                flash(f"已新建机构：{unit.name}", "success")
                return redirect(url_for("identity.admin_units"))
            except ServiceError as err:
                db.session.rollback()
                errors = service_errors(err)
    managed = access.managed_paths(g.user)
    units = [u for u in services.list_units(g.user) if access.within(u.path, managed)]
    return render_template("identity/admin_units.html", units=units, errors=errors, form=form), (
        422 if errors else 200
    )


@bp.route("/admin/units/<int:unit_id>", methods=["GET", "POST"])
@login_required
def admin_unit(unit_id: int):
    _require_manager()
    unit = services.get_unit(g.user, unit_id)
    if not access.can_manage_unit(g.user, unit):
        abort(404)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        raw = request.form.to_dict()
        raw.pop("csrf_token", None)
        raw["active"] = "active" in request.form
        if raw.get("short_name", None) == "":
            raw["short_name"] = None
        if raw.get("parent_id", "") == "":
            raw.pop("parent_id", None)
        data, errors = parse_form(UnitPatch(), raw)
        if not errors:
            try:
                services.update_unit(current_actor(), unit_id, **data)
                db.session.commit()
                flash("机构已保存", "success")
                return redirect(url_for("identity.admin_unit", unit_id=unit_id))
            except ServiceError as err:
                db.session.rollback()
                errors = service_errors(err)
                unit = services.get_unit(g.user, unit_id)
    managed = access.managed_paths(g.user)
    parents = [
        u
        for u in services.list_units(g.user)
        if access.within(u.path, managed) and not u.path.startswith(unit.path)
    ]
    people = services.search_users(g.user, unit_id=unit.id, per_page=100)
    return render_template(
        "identity/admin_unit.html", unit=unit, parents=parents, people=people, errors=errors
    ), (422 if errors else 200)


# ---------------------------------------------------------------- admin: people


@bp.get("/admin/users")
@login_required
def admin_users():
    _require_manager()
    q = (request.args.get("q") or "").strip()[:50]
    page_no = _int_arg("page") or 1
    unit_id = _int_arg("unit_id")
    result = services.search_users(
        g.user,
        q=q or None,
        unit_id=unit_id,
        include_subunits=True,
        include_inactive=True,
        page=page_no,
        per_page=30,
    )
    return render_template("identity/admin_users.html", result=result, q=q, unit_id=unit_id)


def _manageable_units():
    managed = access.managed_paths(g.user)
    return [u for u in services.list_units(g.user) if access.within(u.path, managed)]


@bp.route("/admin/users/new", methods=["GET", "POST"])
@login_required
def admin_user_new():
    _require_manager()
    errors: dict[str, list[str]] = {}
    form = request.form.to_dict()
    if request.method == "POST":
        raw = {k: v for k, v in form.items() if k not in ("csrf_token", "unit_id", "title") and v != ""}
        raw["posts"] = [
            {
                "unit_id": form.get("unit_id") or None,
                "title": form.get("title", ""),
                "roles": request.form.getlist("roles"),
            }
        ]
        data, errors = parse_form(UserIn(), raw)
        if "posts" in errors:
            errors["title"] = ["请选择机构并填写职务"]
        if not errors:
            try:
                user = services.create_user(current_actor(), must_change_password=True, **data)
                db.session.commit()
                flash(f"已新建人员：{user.name}（首次登录须修改密码）", "success")
                return redirect(url_for("identity.admin_user", user_id=user.id))
            except ServiceError as err:
                db.session.rollback()
                errors = service_errors(err)
    return render_template(
        "identity/admin_user_new.html", units=_manageable_units(), errors=errors, form=form
    ), (422 if errors else 200)


@bp.route("/admin/users/<int:user_id>", methods=["GET", "POST"])
@login_required
def admin_user(user_id: int):
    _require_manager()
    user = services.get_user(g.user, user_id)
    if not access.can_manage_user(g.user, user) and not any(
        access.can_manage_unit(g.user, p.unit) for p in user.posts
    ):
        abort(404)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        action = request.form.get("action")
        try:
            errors = _user_action(user_id, action)
            if not errors:
                db.session.commit()
                flash("已保存", "success")
                return redirect(url_for("identity.admin_user", user_id=user_id))
        except ServiceError as err:
            errors = service_errors(err)
        db.session.rollback()
        user = services.get_user(g.user, user_id)
    return render_template(
        "identity/admin_user.html",
        person=user,
        units=_manageable_units(),
        secretaries=services.secretaries_of(user),
        leaders=services.leaders_of(user),
        can_manage=access.can_manage_user(g.user, user),
        errors=errors,
    ), (422 if errors else 200)


def _user_action(user_id: int, action: str | None) -> dict[str, list[str]]:
    """One form post on the person page; returns field errors or {} on success."""
    actor, form = current_actor(), request.form
    if action == "profile":
        raw = {
            "name": form.get("name", ""),
            "mobile": form.get("mobile") or None,
            "email": form.get("email") or None,
        }
        data, errors = parse_form(UserPatch(), raw)
        if not errors:
            services.update_user(actor, user_id, **data)
        return errors
    if action in ("activate", "deactivate"):
        services.update_user(actor, user_id, active=action == "activate")
    elif action == "reset_password":
        services.reset_password(actor, user_id, form.get("password", ""))
    elif action == "add_post":
        raw = {
            "unit_id": form.get("unit_id") or None,
            "title": form.get("title", ""),
            "roles": form.getlist("roles"),
        }
        data, errors = parse_form(PostIn(), raw)
        if errors:
            return errors
        services.add_post(actor, user_id, data)
    elif action in ("update_post", "primary_post", "remove_post"):
        post_id = bounded_int(form.get("post_id")) or 0  # 0: no such post, the service says 404
        if action == "remove_post":
            services.remove_post(actor, user_id, post_id)
        elif action == "primary_post":
            services.update_post(actor, user_id, post_id, is_primary=True)
        else:
            services.update_post(
                actor, user_id, post_id, title=form.get("title") or None, roles=form.getlist("roles")
            )
    elif action == "link_secretary":
        sid = bounded_int(form.get("secretary_id"))
        if sid is None:
            return {"secretary_id": ["请填写秘书的人员编号"]}
        services.link_secretary(actor, sid, user_id)
    elif action == "unlink_secretary":
        services.unlink_secretary(actor, bounded_int(form.get("secretary_id")) or 0, user_id)
    else:
        return {"_": ["未知操作"]}
    return {}


# ---------------------------------------------------------------- delegations (everyone)


@bp.route("/account/delegations", methods=["GET", "POST"])
@login_required
def delegations():
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            if request.form.get("action") == "revoke":
                services.revoke_delegation(
                    current_actor(), bounded_int(request.form.get("delegation_id")) or 0
                )
            else:
                data, errors = parse_form(DelegationIn(), _delegation_raw())
                if not errors:
                    services.create_delegation(current_actor(), **data)
            if not errors:
                db.session.commit()
                flash("已保存", "success")
                return redirect(url_for("identity.delegations"))
        except ServiceError as err:
            errors = service_errors(err)
        db.session.rollback()
    return render_template(
        "identity/delegations.html",
        delegations=services.delegations_for(g.user),
        principals=services.principals_of(g.user),
        errors=errors,
        form=request.form,
    ), (422 if errors else 200)


def _delegation_raw() -> dict:
    """Form times are Beijing local time (datetime-local inputs carry no offset)."""
    raw = {"delegate_id": request.form.get("delegate_id") or None, "reason": request.form.get("reason", "")}
    for key in ("starts_at", "ends_at"):
        value = request.form.get(key, "")
        if value:
            raw[key] = value + ("" if "+" in value else ":00+08:00" if len(value) == 16 else "+08:00")
    return {k: v for k, v in raw.items() if v is not None}
