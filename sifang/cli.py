"""``sifang``: the operators' command line.

sifang demo                  load a realistic county scenario through the public APIs
sifang events tail           follow the event stream (server-sent events), with filters
sifang replay                rebuild the coordinator from the stream and compare
sifang doctor                check NATS, the stream, consumers and lag, the databases
sifang dead-letters list     messages a consumer could not apply, with the reason
sifang dead-letters redrive  process one again
sifang coordinators add      a coordinator account (dashboard sign-in, API tokens)
sifang tokens issue          a scoped, expiring API token for the coordinator's HTTP API
sifang tokens list           API tokens, their scopes and state (never their secrets)
sifang tokens revoke         refuse a token from now on
sifang stream backup FILE    write every message of the event stream to a file
sifang stream restore FILE   publish a backup into a new, empty stream
"""

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from rich.text import Text

from sifang.client import DEFAULT_URLS, Sifang, SifangAPIError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

app = typer.Typer(help="Sifang's operator commands.", no_args_is_help=True, add_completion=False)
events_app = typer.Typer(help="The event stream.", no_args_is_help=True)
dead_app = typer.Typer(help="Dead letters: messages a consumer could not apply.", no_args_is_help=True)
app.add_typer(events_app, name="events")
app.add_typer(dead_app, name="dead-letters")
accounts_app = typer.Typer(help="Coordinator accounts for the dashboard.", no_args_is_help=True)
app.add_typer(accounts_app, name="coordinators")
portal_app = typer.Typer(help="Portal accounts: who signs in for an organisation.", no_args_is_help=True)
app.add_typer(portal_app, name="portal-accounts")
tokens_app = typer.Typer(help="Scoped API tokens for the coordinator's HTTP API.", no_args_is_help=True)
app.add_typer(tokens_app, name="tokens")
stream_app = typer.Typer(help="The event stream: backups and restores.", no_args_is_help=True)
app.add_typer(stream_app, name="stream")
partition_app = typer.Typer(help="Coordinators partitioned by county.", no_args_is_help=True)
app.add_typer(partition_app, name="partition")
province_app = typer.Typer(
    help="The province's read router over partitioned coordinators.", no_args_is_help=True
)
app.add_typer(province_app, name="province")


def inert_console(width: int | None = None) -> Console:
    """A console that prints text as it is: what the CLI shows comes from servers, databases and
    the people who named things, so ``[...]`` is never read as markup nor ``:name:`` as an emoji
    (an unmatched ``[/x]`` in an error message would otherwise stop the command)."""
    return Console(width=width, markup=False, emoji=False)


console = inert_console()

VarDir = Annotated[Path, typer.Option(envvar="SIFANG_VAR_DIR", help="where `make run` keeps its data")]
Coordinator = Annotated[str, typer.Option(envvar="SIFANG_COORDINATOR_URL", help="the coordinator's URL")]
Service = Annotated[
    str, typer.Option(help="whose database: coordinator, government, enterprise, ngo, community")
]


def _token(var_dir: Path) -> str:
    token = os.environ.get("SIFANG_ADMIN_TOKEN")
    if not token and (var_dir / "admin-token").exists():
        token = (var_dir / "admin-token").read_text().strip()
    if not token:
        console.print("No admin token: set SIFANG_ADMIN_TOKEN (make run prints it).", style="red")
        raise typer.Exit(2)
    return token


def _urls() -> dict[str, str]:
    return {s: os.environ.get(f"SIFANG_{s.upper()}_URL", url) for s, url in DEFAULT_URLS.items()}


@app.command()
def demo(
    var_dir: VarDir = Path("var"),
    keys_file: Annotated[
        Path | None, typer.Option(help="where to keep the demo organisations' API keys")
    ] = None,
) -> None:
    """Load a realistic county scenario (周至县) through the public APIs."""
    keys_file = keys_file or var_dir / "demo-organisations.json"
    with Sifang(_urls(), _token(var_dir)) as sifang:
        from sifang.demo import steps

        state: dict[str, Any] = {}
        with Progress(console=console) as progress:
            plan = steps(sifang)
            task = progress.add_task("loading the demo", total=len(plan))
            for name, step in plan:
                progress.update(task, description=name)
                try:
                    step(state)
                except (SifangAPIError, httpx.HTTPError) as exc:
                    console.print(f"{name}: {exc}", style="red")
                    raise typer.Exit(1) from exc
                progress.advance(task)
    keys_file.parent.mkdir(parents=True, exist_ok=True)
    keys_file.write_text(json.dumps(state, ensure_ascii=False, indent=2))
    keys_file.chmod(0o600)
    console.print(
        f"Demo loaded: {len([v for v in state.values() if isinstance(v, dict)])} organisations; "
        f"their API keys are in {keys_file}."
    )


@events_app.command("tail")
def tail(
    coordinator: Coordinator = DEFAULT_URLS["coordinator"],
    type_: Annotated[list[str] | None, typer.Option("--type", help="event type")] = None,
    kind: Annotated[list[str] | None, typer.Option(help="publishing kind")] = None,
    region: Annotated[list[str] | None, typer.Option(help="region code")] = None,
    organisation: Annotated[list[str] | None, typer.Option(help="organisation id")] = None,
    after: Annotated[
        int | None,
        typer.Option(help="start after this position in the coordinator's log (0: from the start)"),
    ] = None,
    limit: Annotated[int | None, typer.Option(help="stop after this many events")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print each event as JSON")] = False,
    var_dir: VarDir = Path("var"),
) -> None:
    """Follow the event stream; Ctrl-C stops."""
    params: dict[str, Any] = {
        "type": type_ or [],
        "kind": kind or [],
        "region": region or [],
        "organisation_id": organisation or [],
    }
    if after is not None:
        params["after"] = after
    # A token with read:events (SIFANG_TOKEN) is enough; else the admin token.
    headers = {"Authorization": f"Bearer {os.environ.get('SIFANG_TOKEN') or _token(var_dir)}"}
    seen = 0
    try:
        with httpx.stream(
            "GET",
            coordinator + "/stream",
            params=params,
            headers=headers,
            timeout=httpx.Timeout(30.0, read=None),
        ) as response:
            if response.status_code != 200:
                console.print(f"{response.status_code}: {response.read().decode()}", style="red")
                raise typer.Exit(1)
            fields: dict[str, str] = {}
            for line in response.iter_lines():
                if line == "" and "data" in fields:
                    event = json.loads(fields["data"])
                    if as_json:
                        print(json.dumps(event, ensure_ascii=False), flush=True)
                    else:
                        print(
                            f"{fields['id']:>6}  {event['time'][:19]}  {event['type']:<38} "
                            f"{event['source']}  {event.get('subject', '')}",
                            flush=True,
                        )
                    fields, seen = {}, seen + 1
                    if limit and seen >= limit:
                        return
                elif line and not line.startswith(":"):
                    key, _, value = line.partition(": ")
                    fields[key] = value
    except KeyboardInterrupt:
        return


@app.command()
def replay(
    database_url: Annotated[
        str | None,
        typer.Option(
            help="an empty database to rebuild into, kept afterwards (default: a scratch database of "
            "the live one's kind, on the same PostgreSQL server or a temporary SQLite file)"
        ),
    ] = None,
    keep: Annotated[bool, typer.Option(help="keep the scratch database and print where it is")] = False,
) -> None:
    """Rebuild the coordinator from the stream into a fresh database and compare it with the live one."""
    from contextlib import nullcontext

    from sqlalchemy.engine import make_url

    from services import service_settings
    from sifang.operations import replay_live
    from sifang.replay_compare import ScratchDatabaseError, scratch_database

    live = service_settings("coordinator").effective_database_url
    scratch = nullcontext(database_url) if database_url else scratch_database(live, keep=keep)
    try:
        with scratch as target:
            shown = make_url(target).render_as_string(hide_password=True)
            result = replay_live(live, target)
            # not wrapped at the terminal's width: scripts look for these sentences whole
            console.print(
                f"Rebuilt {shown} from the stream: {result.applied} events processed, "
                f"{result.failed} failed.",
                soft_wrap=True,
            )
            console.print(
                f"It applied the stream through sequence {result.through}: the live coordinator had "
                f"got to {result.live_through}, the stream's last is {result.stream_last}.",
                soft_wrap=True,
            )
    except ScratchDatabaseError as exc:
        console.print(str(exc), style="red")
        console.print("    → grant the user CREATEDB, or name an empty database with --database-url")
        raise typer.Exit(2) from exc
    if not database_url:
        console.print(f"Kept {shown}." if keep else "Dropped the scratch database.")
    table = Table("table", "rows", "result")
    for name, outcome in result.report.items():
        if outcome["identical"]:
            verdict = Text("identical", style="green")
        elif "problem" in outcome:
            verdict = Text(str(outcome["problem"]), style="red")
        else:
            verdict = Text.assemble(
                (f"{outcome['differing_count']} rows differ", "red"), f" e.g. {outcome['differing'][:3]}"
            )
        table.add_row(name, str(outcome["rows"]), verdict)
    console.print(table)
    if not result.settled:
        console.print(
            f"The live coordinator kept applying events while it was compared ({result.rounds} "
            "times): the comparison is not of one state. Run it again when the coordinator is quieter, "
            "or stop it first.",
            style="yellow",
        )
        raise typer.Exit(3)
    if result.identical:
        console.print("The replay is identical.", style="green")
    elif result.live_through > result.stream_last:
        console.print(
            f"The replay differs: the live coordinator had got to sequence {result.live_through}, "
            f"but this stream ends at {result.stream_last}: it lacks messages the coordinator applied "
            "(a stream restored from an older backup, or another deployment's stream).",
            style="red",
        )
    else:
        console.print(
            "The replay differs: the coordinator's record is not a function of its stream. "
            "That is a bug; please report it with this output.",
            style="red",
        )
    raise typer.Exit(0 if result.identical else 1)


NatsUrl = Annotated[str, typer.Option(envvar="NATS_URL", help="the NATS server or cluster (comma-separated)")]


@stream_app.command("backup")
def stream_backup(file: Path, nats_url: NatsUrl = "nats://127.0.0.1:4233") -> None:
    """Write every message of the stream, in order, to FILE (JSON lines), as the admin user."""
    from sifang.stream_backup import back_up_stream

    summary = back_up_stream(nats_url, file)
    console.print(
        f"Backed up {summary.messages} messages "
        f"(sequences {summary.first_sequence}–{summary.last_sequence}) to {file}."
    )


@stream_app.command("restore")
def stream_restore(
    file: Path,
    nats_url: NatsUrl = "nats://127.0.0.1:4233",
    replicas: Annotated[
        int, typer.Option(envvar="SIFANG_STREAM_REPLICAS", help="replicas of the stream")
    ] = 1,
) -> None:
    """Publish a backup into the stream of a fresh server, each message at its old sequence."""
    from sifang.stream_backup import BackupError, restore_stream

    try:
        summary = restore_stream(nats_url, file, replicas)
    except BackupError as exc:
        console.print(str(exc), style="red")
        raise typer.Exit(1) from exc
    console.print(
        f"Restored {summary.messages} messages (sequences {summary.first_sequence}–{summary.last_sequence}); "
        "now `sifang replay` rebuilds the coordinator from them."
    )


@app.command()
def doctor(
    nats_url: Annotated[str, typer.Option(envvar="NATS_URL")] = "nats://127.0.0.1:4233",
) -> None:
    """Check NATS, the stream, the consumers and their lag, and every database; say plainly what is wrong."""
    from sifang.operations import doctor as run_checks

    checks = run_checks(nats_url)
    with Sifang(_urls()) as sifang:
        for service, health in sifang.health().items():
            ok = health.get("status") == "ok"
            from sifang.operations import Check

            checks.append(
                Check(
                    f"service {service}",
                    ok,
                    json.dumps(health, ensure_ascii=False),
                    "" if ok else "is it running? `make run` starts all five",
                )
            )
    for check in checks:
        mark = ("✓", "green") if check.ok else ("✗", "red")
        advice = f"\n    → {check.advice}" if check.advice else ""
        console.print(Text.assemble(mark, f" {check.name}: {check.detail}{advice}"))
    bad = [c for c in checks if not c.ok]
    console.print(f"\n{len(checks) - len(bad)} fine, {len(bad)} to look at.")
    raise typer.Exit(1 if bad else 0)


@dead_app.command("list")
def list_dead_letters(service: Service = "coordinator") -> None:
    """Dead letters of a service's consumers, with the reason."""
    from sifang.operations import dead_letters

    table = Table("id", "consumer", "seq", "subject", "deliveries", "reason", "re-driven")
    for letter in dead_letters(service):
        table.add_row(
            str(letter.id),
            letter.consumer,
            str(letter.stream_sequence),
            letter.subject,
            str(letter.deliveries),
            letter.reason[:80],
            str(letter.redriven_at or ""),
        )
    console.print(table)


@dead_app.command("redrive")
def redrive_dead_letter(letter_id: int, service: Service = "coordinator") -> None:
    """Process a dead letter again; it is marked re-driven once it applies."""
    from sifang.operations import redrive

    try:
        outcome = redrive(service, letter_id)
    except LookupError as exc:
        console.print(str(exc), style="red")
        raise typer.Exit(1) from exc
    console.print(f"dead letter {letter_id}: {outcome}")
    raise typer.Exit(0 if outcome in ("applied", "duplicate") or outcome.startswith("already") else 1)


@partition_app.command("move")
def move_county(
    county: Annotated[str, typer.Argument(help="the six-digit county code to move, e.g. 610124")],
    from_database: Annotated[str, typer.Option(help="the database of the coordinator that owns it now")],
    to_database: Annotated[str, typer.Option(help="the database of the coordinator that will own it")],
    nats_url: NatsUrl = "nats://127.0.0.1:4233",
    resume: Annotated[
        bool, typer.Option(help="finish a move that stopped after the source dropped it")
    ] = False,
) -> None:
    """Move a county to another coordinator: both (stopped) are rebuilt from the stream with
    their new counties, which then go into their COORDINATOR_REGIONS."""
    from sifang.partitions import MoveRefused
    from sifang.partitions import move_county as move

    try:
        report = move(county, from_database, to_database, nats_url, resume=resume)
    except MoveRefused as exc:
        console.print(f"Not moved: {exc}", style="red")
        raise typer.Exit(1) from exc
    table = Table("partition", "events replayed", "matches before → after", "new events to publish")
    for side in (report.source, report.target):
        if side.name not in report.matches:
            table.add_row(side.name, "(rebuilt before)", "", "")
            continue
        before, after = report.matches[side.name]
        table.add_row(
            side.name, str(report.events[side.name]), f"{before} → {after}", str(report.to_publish[side.name])
        )
    console.print(table)
    regions = {report.source.name: report.plan.source_regions, report.target.name: report.plan.target_regions}
    console.print(
        Text.assemble((f"{county} moved from {report.source.name} to {report.target.name}.", "green")),
        "Start them with:",
    )
    for name, owned in regions.items():
        console.print(f"  {name}: COORDINATOR_PARTITION={name} COORDINATOR_REGIONS='{json.dumps(owned)}'")


@province_app.command("serve")
def province_serve(host: str = "127.0.0.1", port: int | None = None) -> None:
    """Run the read router over the coordinators in PROVINCE_PARTITIONS (see docs/scaling.md)."""
    import uvicorn

    from sifang.province import ProvinceSettings, create_app

    settings = ProvinceSettings()
    uvicorn.run(create_app(settings), host=host, port=port or settings.port, log_level="warning")


@province_app.command("token")
def province_token() -> None:
    """Make a caller token for the read router; its digest goes into PROVINCE_TOKENS."""
    from sifang.province import new_token

    token, digest = new_token()
    console.print(f"token (give it to the caller; shown once): {token}")
    console.print(f"digest (add it to PROVINCE_TOKENS): {digest}")


@accounts_app.command("add")
def add_coordinator(
    username: str,
    name: Annotated[str, typer.Option(help="the name recorded with what they do, e.g. 张主任")],
    password_stdin: Annotated[bool, typer.Option(help="read the password from standard input")] = False,
) -> None:
    """Create a coordinator account (the password is asked for, or read from standard input)."""
    from sqlalchemy.orm import Session

    from services import service_settings
    from services.coordinator.dashboard.accounts import create_account
    from shared.db import make_engine
    from shared.errors import SifangError

    password = (
        sys.stdin.readline().rstrip("\n")
        if password_stdin
        else typer.prompt("password", hide_input=True, confirmation_prompt=True)
    )
    engine = make_engine(service_settings("coordinator").effective_database_url)
    try:
        with Session(engine) as session:
            create_account(session, username, name, password)
            session.commit()
    except SifangError as exc:
        console.print(f"{exc.field}: {exc.message}", style="red")
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    console.print(f"coordinator {username} ({name}) can now sign in at /dashboard")


@portal_app.command("add")
def add_portal_account(
    service: Annotated[str, typer.Option(help="government, enterprise, ngo or community")],
    organisation: Annotated[str, typer.Option(help="the organisation's id at that service")],
    username: str,
    name: Annotated[str, typer.Option(help="the person's name, e.g. 张秀兰")],
    role: Annotated[str, typer.Option(help="admin (adds its other people) or member")] = "admin",
    password_stdin: Annotated[bool, typer.Option(help="read the password from standard input")] = False,
) -> None:
    """Create a portal account for one of an organisation's people (an operator's way; an
    organisation's admin adds the others in the portal)."""
    from sqlalchemy.orm import Session

    from services import STAKEHOLDER_SERVICES, service_settings
    from shared.db import make_engine
    from shared.errors import SifangError
    from shared.stakeholder.models import Organisation
    from shared.stakeholder.portal.service import create_account

    if service not in STAKEHOLDER_SERVICES:
        console.print(f"service: one of {', '.join(STAKEHOLDER_SERVICES)}", style="red")
        raise typer.Exit(1)
    password = (
        sys.stdin.readline().rstrip("\n")
        if password_stdin
        else typer.prompt("password", hide_input=True, confirmation_prompt=True)
    )
    engine = make_engine(service_settings(service).effective_database_url)
    try:
        with Session(engine) as session:
            org = session.get(Organisation, organisation)
            if org is None:
                console.print(f"organisation: no organisation {organisation!r} at {service}", style="red")
                raise typer.Exit(1)
            create_account(session, org, username, name, password, role, "operator")
            session.commit()
    except SifangError as exc:
        console.print(f"{exc.field}: {exc.message}", style="red")
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    console.print(f"{name} ({username}) can now sign in for {org.name} at the {service} service's /portal")


@tokens_app.command("issue")
def issue_token(
    name: Annotated[str, typer.Option(help="who or what holds it, e.g. 县数据团队")],
    scope: Annotated[
        list[str],
        typer.Option(
            help="a scope it holds (repeat): read:book, read:events, manage:webhooks, read:meetings, "
            "run:meetings, admin"
        ),
    ],
    expires_days: Annotated[int, typer.Option(help="days until it expires")] = 90,
    coordinator: Annotated[
        str | None, typer.Option(help="the coordinator account it acts for (needed for run:meetings)")
    ] = None,
) -> None:
    """Issue an API token: it is printed once, only its digest is kept."""
    from services.coordinator.access.service import issue_token as issue
    from shared.errors import SifangError

    try:
        with _coordinator_session() as session:
            token, secret = issue(session, name, scope, expires_days=expires_days, coordinator=coordinator)
            session.commit()
            summary = (
                f"token {token.id} ({token.name}): {', '.join(token.scopes)}; "
                f"expires {token.expires_at:%Y-%m-%d}"
                + (f"; acts for {token.coordinator}" if token.coordinator else "")
            )
    except SifangError as exc:
        console.print(f"{exc.field}: {exc.message}", style="red")
        raise typer.Exit(1) from exc
    console.print(summary)
    console.print("It is shown this once; send it as Authorization: Bearer <token>:")
    print(secret)


@tokens_app.command("list")
def list_tokens() -> None:
    """API tokens with their scopes, state and last use (never their secrets)."""
    from services.coordinator.access.service import list_tokens as listed
    from services.coordinator.access.service import token_state

    table = Table("id", "name", "scopes", "coordinator", "state", "expires", "last used")
    with _coordinator_session() as session:
        for token in listed(session):
            table.add_row(
                token.id,
                token.name,
                " ".join(token.scopes),
                token.coordinator or "",
                token_state(token),
                f"{token.expires_at:%Y-%m-%d}",
                f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "",
            )
    console.print(table)


@tokens_app.command("revoke")
def revoke_token(token_id: str) -> None:
    """Revoke an API token: every request with it is refused from now on."""
    from services.coordinator.access.service import revoke_token as revoke
    from shared.errors import SifangError

    try:
        with _coordinator_session() as session:
            token = revoke(session, token_id)
            session.commit()
            done = f"token {token.id} ({token.name}) revoked at {token.revoked_at:%Y-%m-%d %H:%M:%S} UTC"
    except SifangError as exc:
        console.print(f"{exc.message}", style="red")
        raise typer.Exit(1) from exc
    console.print(done)


@contextlib.contextmanager
def _coordinator_session() -> Iterator["Session"]:
    """A session on the coordinator's database (its settings from the environment)."""
    from sqlalchemy.orm import Session

    from services import service_settings
    from shared.db import make_engine

    engine = make_engine(service_settings("coordinator").effective_database_url)
    try:
        with Session(engine) as session:
            yield session
    finally:
        engine.dispose()


def main() -> None:
    app(prog_name="sifang")


if __name__ == "__main__":
    main()
