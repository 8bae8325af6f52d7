"""Rule-set versions: list and read them, upload a new one (checked, stored inactive), see what it would change
(dry run) and make it live (activate). A version that does not check is never stored and never activated."""

from __future__ import annotations

import os

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from server import dryrun, rulesets
from server.api import params
from server.api.auth import principal
from server.api.errors import ApiError
from server.api.export import respond
from server.service import audit
from server.store.models import RuleSet

bp = Blueprint("rulesets", url_prefix="/api/v1")

LIST_COLUMNS = ["version", "active", "digest", "comment", "uploaded_by", "uploaded_at", "activated_at", "files"]


@bp.get("/rulesets", ctx_permission="rules:read")
async def list_rulesets(request: Request) -> HTTPResponse:
    """Rule-set versions, newest first.

    With each version's file count; `limit`, `offset`, `format=csv|xlsx|json`."""
    limit = params.integer(request, "limit", 100, low=1, high=1000)
    offset = params.integer(request, "offset", 0)
    total = await RuleSet.all().count()
    found = await RuleSet.all().order_by("-version").offset(offset).limit(limit)
    return respond(request, [_summary(r) for r in found], LIST_COLUMNS, "rulesets", {"total": total})


@bp.get("/rulesets/<version:int>", ctx_permission="rules:read")
async def get_ruleset(request: Request, version: int) -> HTTPResponse:
    """One version with the text of every file (`files`: {path: text})."""
    found = await _ruleset(version)
    return json({**_summary(found), "files": found.files}, ensure_ascii=False)


@bp.post("/rulesets", ctx_permission="rules:write")
async def upload_ruleset(request: Request) -> HTTPResponse:
    """Upload a rule set as a new, inactive version.

    Body: `{"files": {"taian/main.rules": "...", ...}, "comment": "..."}`, or a multipart form of `.rules` files
    (the file names are the paths) with a `comment` field. A set that does not check is refused with 422 and
    every diagnostic (`path:line:col`), and nothing is stored."""
    files, comment = _uploaded(request)
    user = principal(request).name
    found, model = await rulesets.upload(files, user=user, comment=comment)
    await audit(user, "ruleset.upload", f"v{found.version}", {"files": len(files), "digest": found.digest,
                                                              "comment": comment})
    warnings = [d.render(model.sources.get(d.span.path)) for d in model.warnings]
    return json({**_summary(found), "warnings": warnings}, status=201, ensure_ascii=False)


@bp.post("/rulesets/<version:int>/activate", ctx_permission="rules:activate")
async def activate_ruleset(request: Request, version: int) -> HTTPResponse:
    """Make a stored version live.

    It is checked again first; its alerts are re-derived over the stored data."""
    await _ruleset(version)
    added = await request.app.ctx.service.activate(version, principal(request).name)
    return json({**_summary(await _ruleset(version)), "transitions": added}, ensure_ascii=False)


@bp.post("/rulesets/<version:int>/dry-run", ctx_permission="rules:read")
async def dry_run_version(request: Request, version: int) -> HTTPResponse:
    """Dry run of a stored version.

    Which alerts it would raise, clear or change in severity if it were active now, with counts."""
    found = await _ruleset(version)
    return await _dry_run(request, found.files, version)


@bp.post("/rulesets/dry-run", ctx_permission="rules:read")
async def dry_run_candidate(request: Request) -> HTTPResponse:
    """Dry run of rule files sent in the body.

    The body is as for an upload; nothing is stored."""
    files, _ = _uploaded(request)
    return await _dry_run(request, files, None)


async def _dry_run(request: Request, files: dict[str, str], version: int | None) -> HTTPResponse:
    service = request.app.ctx.service
    effect = await dryrun.dry_run(service, files)
    body = {"candidate": version, "active": service.version, "as_of": service.today().isoformat(),
            **effect.seen_by(principal(request).sees).as_dict()}
    return json(body, ensure_ascii=False)


async def _ruleset(version: int) -> RuleSet:
    found = await RuleSet.get_or_none(version=version)
    if found is None:
        raise ApiError(404, "not_found", f"没有版本为 {version} 的规则集")
    return found


def _summary(found: RuleSet) -> dict:
    return {"version": found.version, "active": found.active, "digest": found.digest, "comment": found.comment,
            "uploaded_by": found.uploaded_by, "uploaded_at": found.uploaded_at.isoformat(),
            "activated_at": found.activated_at.isoformat() if found.activated_at else None,
            "files": len(found.files)}


# ---------------------------------------------------------------------- reading an upload


def _uploaded(request: Request) -> tuple[dict[str, str], str]:
    """The files and the comment of a JSON or multipart body, with every bad path reported at once."""
    if request.content_type.startswith("multipart/form-data"):
        files, comment = _multipart(request), request.form.get("comment", "")
    else:
        body = params.json_object(request)
        files, comment = body.get("files"), body.get("comment", "")
        if not isinstance(files, dict) or not all(isinstance(t, str) for t in files.values()):
            raise ApiError(400, "bad_json", "请求体应为 {\"files\": {\"路径.rules\": \"规则文本\", ...}}")
    if not files:
        raise ApiError(400, "no_files", "规则集没有任何规则文件")
    bad = [path for path in files if not _safe_path(path)]
    if bad:
        raise ApiError(400, "bad_path", f"规则文件路径无效：{'、'.join(bad)}（应为以 .rules 结尾的相对路径）",
                       {"paths": bad})
    return {os.path.normpath(path): text for path, text in files.items()}, str(comment)


def _multipart(request: Request) -> dict[str, str]:
    files: dict[str, str] = {}
    for uploads in (request.files or {}).values():
        for upload in uploads:
            if upload.name in files:
                raise ApiError(400, "duplicate_file", f"规则文件「{upload.name}」上传了两次")
            try:
                files[upload.name] = upload.body.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise ApiError(400, "bad_encoding", f"规则文件「{upload.name}」不是 UTF-8 文本") from None
    return files


def _safe_path(path: str) -> bool:
    # Paths become import roots: none may climb out of the rule set or name an absolute location.
    normal = os.path.normpath(path)
    return path.endswith(".rules") and not os.path.isabs(normal) and ".." not in normal.split("/") \
        and "\\" not in path
