"""Rule-set versions through the API: upload (checked, stored inactive), rejection with every diagnostic, dry
run of a tightened threshold, and activation that re-derives the alerts."""

from __future__ import annotations

from sanic import Request, Sanic

from server.api.auth import EVERYTHING, Principal
from server.service import Service
from server.store.models import Alert, AuditEntry, RuleSet

INDUSTRY = "rules/taian/rules_industry.rules"


async def shipped_files() -> dict[str, str]:
    return dict((await RuleSet.get(version=1)).files)


async def tightened_files() -> dict[str, str]:
    """The shipped rules with the upper bound of ind_va_range lowered from 20 to 10."""
    files = await shipped_files()
    old = "when ind_va < -5 or ind_va > 20"
    assert old in files[INDUSTRY]
    files[INDUSTRY] = files[INDUSTRY].replace(old, "when ind_va < -5 or ind_va > 10")
    return files


async def ingest_xintai(service: Service, october: float) -> None:
    await service.ingest([{"indicator": "ind_va", "entity": "xintai", "period": "2026-09", "value": 6.0},
                          {"indicator": "ind_va", "entity": "xintai", "period": "2026-10", "value": october}],
                         source="api")


async def test_a_valid_upload_is_stored_inactive_and_listed(app: Sanic) -> None:
    files = await tightened_files()
    _, response = await app.asgi_client.post("/api/v1/rulesets", json={"files": files, "comment": "收紧工业区间"})
    assert response.status == 201, response.text
    assert response.json["version"] == 2 and response.json["active"] is False
    _, listing = await app.asgi_client.get("/api/v1/rulesets")
    assert [(r["version"], r["active"], r["files"], r["comment"]) for r in listing.json["items"]] == [
        (2, False, len(files), "收紧工业区间"), (1, True, len(files), "随系统安装的规则")]
    _, one = await app.asgi_client.get("/api/v1/rulesets/2")
    assert one.json["files"][INDUSTRY] == files[INDUSTRY]
    assert await AuditEntry.filter(action="ruleset.upload", target="v2").count() == 1
    _, missing = await app.asgi_client.get("/api/v1/rulesets/9")
    assert missing.status == 404


async def test_a_multipart_upload_of_rule_files_is_accepted(app: Sanic) -> None:
    files = {"regions.rules": 'entity taian "泰安市" city\nentity xintai "新泰市" county_city in taian\n',
             "main.rules": 'import "regions.rules"\nindicator ind_va "规模以上工业增加值" { unit "%" form rate }\n'}
    uploads = [("files", (name, text.encode(), "text/plain")) for name, text in files.items()]
    _, response = await app.asgi_client.post("/api/v1/rulesets", files=uploads, data={"comment": "两个文件"})
    assert response.status == 201, response.text
    stored = await RuleSet.get(version=response.json["version"])
    assert (stored.files, stored.comment, stored.active) == (files, "两个文件", False)


async def test_an_invalid_upload_is_refused_with_every_error_and_not_stored(app: Sanic) -> None:
    files = await shipped_files()
    files[INDUSTRY] = files[INDUSTRY].replace("when ind_va < -5 or ind_va > 20", "when ind_vaa < -5 or ind_va > 20")
    files["rules/taian/checks.rules"] += '\nrule broken "坏规则" {\n  severity loud\n  when gdp > 1\n}\n'
    _, response = await app.asgi_client.post("/api/v1/rulesets", json={"files": files})
    assert response.status == 422
    loud = files["rules/taian/checks.rules"].splitlines().index("  severity loud") + 1
    details = response.json["error"]["details"]
    assert [(d["path"], d["line"], d["column"]) for d in details["diagnostics"]] == [
        ("rules/taian/checks.rules", loud, 12), (INDUSTRY, 9, 8)]
    assert details["diagnostics"][1]["suggestion"] == "did you mean `ind_va`?"
    assert f"rules/taian/checks.rules:{loud}:12: error:" in details["text"]
    assert f"{INDUSTRY}:9:8: error:" in details["text"] and "^^^^^^^" in details["text"]
    assert await RuleSet.all().count() == 1


async def test_bad_paths_are_refused(app: Sanic) -> None:
    body = {"files": {"../etc/x.rules": "", "notes.txt": "", "ok.rules": ""}}
    _, response = await app.asgi_client.post("/api/v1/rulesets", json=body)
    assert response.status == 400 and response.json["error"]["details"]["paths"] == ["../etc/x.rules", "notes.txt"]


async def test_dry_run_shows_the_alert_a_tightened_threshold_raises_and_activation_raises_it(
        app: Sanic, sqlite_service: Service) -> None:
    await ingest_xintai(sqlite_service, 15.0)
    assert not await Alert.filter(rule="ind_va_range", entity="xintai", state="firing").exists()
    files = await tightened_files()

    # A candidate in the body: evaluated, not stored.
    _, unstored = await app.asgi_client.post("/api/v1/rulesets/dry-run", json={"files": files})
    assert unstored.status == 200, unstored.text
    assert await RuleSet.all().count() == 1

    _, uploaded = await app.asgi_client.post("/api/v1/rulesets", json={"files": files})
    version = uploaded.json["version"]
    _, stored = await app.asgi_client.post(f"/api/v1/rulesets/{version}/dry-run")
    for effect in (unstored.json, stored.json):
        assert [(r["rule"], r["entity"], r["indicator"], r["period"], r["severity"]) for r in effect["raise"]] == [
            ("ind_va_range", "xintai", None, "2026-10", "warning")]
        assert "新泰市" in effect["raise"][0]["message"] and "15.0%" in effect["raise"][0]["message"]
        assert effect["clear"] == [] and effect["counts"]["raise"] == 1
        assert effect["counts"]["firing_candidate"] == effect["counts"]["firing_now"] + 1
    assert stored.json["candidate"] == version and stored.json["active"] == 1

    _, activated = await app.asgi_client.post(f"/api/v1/rulesets/{version}/activate")
    assert activated.status == 200, activated.text
    assert activated.json["active"] is True and activated.json["transitions"] >= 1
    alert = await Alert.get(rule="ind_va_range", entity="xintai")
    assert (alert.state, alert.period, alert.ruleset_version) == ("firing", "2026-10", version)
    _, listing = await app.asgi_client.get("/api/v1/rulesets")
    assert [(r["version"], r["active"]) for r in listing.json["items"]] == [(version, True), (1, False)]
    assert await AuditEntry.filter(action="ruleset.activate", target=f"v{version}").exists()

    # Going back to the shipped rules would clear it again.
    _, back = await app.asgi_client.post("/api/v1/rulesets/1/dry-run")
    assert [(r["rule"], r["entity"]) for r in back.json["clear"]] == [("ind_va_range", "xintai")]
    assert back.json["raise"] == []

    # A caller who sees only another county is not shown xintai's alert, nor counts it.
    async def feicheng_only(_request: Request) -> Principal:
        return Principal("肥城统计员", EVERYTHING, frozenset({"feicheng"}))

    app.ctx.authenticate = feicheng_only
    _, scoped = await app.asgi_client.post("/api/v1/rulesets/1/dry-run")
    assert scoped.json["clear"] == []
    assert scoped.json["counts"]["firing_now"] == await Alert.filter(entity="feicheng", state="firing").count()
    assert back.json["counts"]["firing_now"] == await Alert.filter(state="firing").count()


async def test_a_version_that_no_longer_checks_is_never_activated(app: Sanic, sqlite_service: Service) -> None:
    files = await shipped_files()
    files[INDUSTRY] += "\nrule 未完成 {\n"
    await RuleSet.create(version=2, files=files, digest="x")  # stored by an older release of the language
    _, response = await app.asgi_client.post("/api/v1/rulesets/2/activate")
    assert response.status == 422 and response.json["error"]["details"]["diagnostics"]
    assert (await RuleSet.get(active=True)).version == 1 and sqlite_service.version == 1
    _, missing = await app.asgi_client.post("/api/v1/rulesets/7/activate")
    assert missing.status == 404
