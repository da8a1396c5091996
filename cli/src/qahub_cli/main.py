"""`qahub`: log in, and manage users and API tokens of a QA Hub server.

\b
    qahub login --username ada --password ...      store a session token for the next commands
    qahub token create --name ci --scope runs:write --project 'group/*' --expires 90d
                                                   print a new API token (only the token) on stdout
    qahub token list | qahub token revoke ID
    qahub user create NAME | qahub user list | qahub user disable NAME      (admins)
    qahub repo add --provider gitlab --project group/repo --secret S --clone-url URL
    qahub repo list | qahub repo remove --provider gitlab --project group/repo       (admins)
    qahub repo deliveries --project group/repo | qahub repo reconcile [--project group/repo]
    qahub gate [--project group/repo --commit SHA]  wait for a commit's batch, exit 0 pass, 1 fail, 2 error

The server is `$QAHUB_API_URL`, else the address qa_api listens on,
http://$QAHUB_QA_API_HOST:$QAHUB_QA_API_PORT (default http://127.0.0.1:5151; a host of 0.0.0.0 or ::
means this machine). `qahub repo` talks to the webhook listener, `$QAHUB_WEBHOOK_URL`, else
http://$QAHUB_WEBHOOK_HOST:$QAHUB_WEBHOOK_PORT (default http://127.0.0.1:5152). The token sent is
`$QAHUB_TOKEN` when set, else the one `qahub login` stored for that server (in `$QAHUB_CONFIG_DIR`, default
~/.config/qahub). Each variable is read from the environment, else from the `.env` of the QA Hub checkout
qahub runs from, as `make run` reads it (never from the current directory's). Errors go to stderr, with
exit status 1.
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Annotated, Any

import typer

from qahub_cli import credentials, gate
from qahub_cli.environment import (
    COMMIT_VARIABLES,
    PROJECT_VARIABLES,
    first_of,
    qaboard_url,
    service_url,
    variable,
)
from qahub_cli.server import Server

DEFAULT_API_PORT = 5151
DEFAULT_WEBHOOK_PORT = 5152

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False, rich_markup_mode=None)
users = typer.Typer(help="Users (admins only).", no_args_is_help=True)
tokens = typer.Typer(help="API tokens: for CI jobs and scripts.", no_args_is_help=True)
app.add_typer(users, name="user")
app.add_typer(tokens, name="token")
repos = typer.Typer(
    help="Repositories whose GitLab or GitHub webhooks the listener accepts (admins).", no_args_is_help=True
)
app.add_typer(repos, name="repo")


def say(message: str) -> None:
    """Tell the person at the terminal (stderr: stdout is for what scripts capture)."""
    typer.echo(message, err=True)


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([mhdw]?)$")
_DAYS_PER_UNIT = {"m": 1 / 1440, "h": 1 / 24, "d": 1.0, "w": 7.0, "": 1.0}


def parse_expiry(text: str) -> float:
    """`90d`, `12h`, `30m`, `2w` or a bare number of days → days."""
    match = _DURATION.match(text.strip().lower())
    if not match or float(match.group(1)) <= 0:
        raise typer.BadParameter("a positive duration such as 90d, 12h, 30m or 2w")
    return float(match.group(1)) * _DAYS_PER_UNIT[match.group(2)]


def server(ctx: typer.Context) -> Server:
    found: Server = ctx.obj
    return found


def every_page(target: Server, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """The items of every page of a cursor-paginated list."""
    rows: list[dict[str, Any]] = []
    while True:
        page = target.request("GET", path, params=params)
        rows.extend(page["items"])
        if not page.get("next_cursor"):
            return rows
        params = {**params, "cursor": page["next_cursor"]}


def print_rows(rows: list[dict[str, Any]], columns: list[str], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    cells = [[_cell(row.get(column)) for column in columns] for row in rows]
    widths = [max([len(column), *(len(line[i]) for line in cells)]) for i, column in enumerate(columns)]
    for line in [columns, *cells]:
        typer.echo("  ".join(value.ljust(width) for value, width in zip(line, widths, strict=True)).rstrip())


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(map(str, value)) or "-"
    return str(value)


def _default_api_url() -> str:
    return service_url(
        url="QAHUB_API_URL", host="QAHUB_QA_API_HOST", port="QAHUB_QA_API_PORT", default_port=DEFAULT_API_PORT
    )


def _default_webhook_url() -> str:
    return service_url(
        url="QAHUB_WEBHOOK_URL",
        host="QAHUB_WEBHOOK_HOST",
        port="QAHUB_WEBHOOK_PORT",
        default_port=DEFAULT_WEBHOOK_PORT,
    )


@app.callback()
def main(
    ctx: typer.Context,
    api_url: Annotated[
        str,
        typer.Option(
            envvar="QAHUB_API_URL",
            default_factory=_default_api_url,
            help="The qa_api server (default: $QAHUB_API_URL, else http://$QAHUB_QA_API_HOST:"
            "$QAHUB_QA_API_PORT, from the environment or the checkout's .env; else http://127.0.0.1:5151).",
            show_default=False,
        ),
    ],
    token: Annotated[
        str | None,
        typer.Option(
            envvar="QAHUB_TOKEN",
            default_factory=lambda: variable("QAHUB_TOKEN"),
            help="Token to send (default: $QAHUB_TOKEN, from the environment or the checkout's .env, else "
            "the one `qahub login` stored).",
            show_default=False,
        ),
    ],
) -> None:
    ctx.obj = Server(url=api_url.rstrip("/"), token_override=token or None)


@app.command()
def login(
    ctx: typer.Context,
    username: Annotated[str, typer.Option(prompt=True, help="Your username.")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, help="Your password.")],
) -> None:
    """Log in and store the session token for the next commands (one per server)."""
    target = server(ctx)
    issued = target.request(
        "POST", "/api/v2/auth/login", auth=False, json={"username": username, "password": password}
    )
    path = credentials.store_token(
        target.url, username=username, token=issued["access_token"], expires_at=issued["expires_at"]
    )
    say(f"Logged in to {target.url} as {username} until {issued['expires_at']} (token in {path}).")


@app.command()
def logout(ctx: typer.Context) -> None:
    """Revoke the stored session token and forget it."""
    target = server(ctx)
    if credentials.stored_token(target.url) is None:
        say(f"Not logged in to {target.url}.")
        return
    try:
        Server(target.url, None).request("POST", "/api/v2/auth/logout")
    finally:
        credentials.forget_token(target.url)
    say(f"Logged out of {target.url}.")


@app.command()
def whoami(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Who the token sent belongs to, and what it may do."""
    me = server(ctx).request("GET", "/api/v2/auth/whoami")
    if as_json:
        typer.echo(json.dumps(me, indent=2))
        return
    projects = ", ".join(me["projects"]) if me["projects"] else "every project"
    typer.echo(f"{me['username']} ({me['kind']} token {me['token_id']})")
    typer.echo(f"scopes:   {' '.join(me['scopes'])}")
    typer.echo(f"projects: {projects}")
    typer.echo(f"expires:  {me['expires_at']}")


ScopeOption = Annotated[
    list[str],
    typer.Option(
        "--scope", help="runs:read, runs:write, metrics:write, commits:write or admin (repeat for several)."
    ),
]
ProjectOption = Annotated[
    list[str] | None,
    typer.Option("--project", help="Restrict to a project ('group/repo') or prefix ('group/*'); repeatable."),
]


@tokens.command("create")
def token_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="What the token is for, e.g. 'ci'.")],
    scope: ScopeOption,
    project: ProjectOption = None,
    expires: Annotated[
        str | None, typer.Option(help="Lifetime: 90d, 12h, 30m, 2w (default: the server's, 90 days).")
    ] = None,
    owner: Annotated[str | None, typer.Option(help="Admins: create it for this user.")] = None,
) -> None:
    """Create an API token and print it (only it) on stdout. It is shown this once."""
    body: dict[str, Any] = {"name": name, "scopes": scope, "projects": project or None}
    if expires is not None:
        body["expires_in_days"] = parse_expiry(expires)
    if owner is not None:
        body["owner"] = owner
    issued = server(ctx).request("POST", "/api/v2/tokens", json=body)
    where = ", ".join(issued["projects"]) if issued["projects"] else "every project"
    scopes = " ".join(issued["scopes"])
    say(f"Token {issued['token_id']} ({scopes} on {where}) expires {issued['expires_at']}.")
    typer.echo(issued["access_token"])


@tokens.command("list")
def token_list(
    ctx: typer.Context,
    everyone: Annotated[bool, typer.Option("--all", help="Admins: every user's tokens.")] = False,
    owner: Annotated[str | None, typer.Option(help="Admins: this user's tokens.")] = None,
    include_inactive: Annotated[bool, typer.Option(help="Also revoked and expired tokens.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """API tokens (never their secret), newest first."""
    params: dict[str, Any] = {"everyone": everyone, "include_inactive": include_inactive, "limit": 200}
    if owner:
        params["owner"] = owner
    rows = every_page(server(ctx), "/api/v2/tokens", params)
    print_rows(rows, ["id", "name", "owner", "scopes", "projects", "expires_at", "active"], as_json)


@tokens.command("revoke")
def token_revoke(
    ctx: typer.Context, token_id: Annotated[str, typer.Argument(help="The token's id.")]
) -> None:
    """Revoke a token (yours, or anyone's for admins)."""
    revoked = server(ctx).request("DELETE", f"/api/v2/tokens/{token_id}")
    say(f"Revoked token {revoked['id']} ({revoked['name']} of {revoked['owner']}).")


@users.command("create")
def user_create(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="Lower case letters, digits, '.', '_', '-'.")],
    password: Annotated[
        str,
        typer.Option(prompt=True, hide_input=True, confirmation_prompt=True, help="At least 10 characters."),
    ],
    admin: Annotated[bool, typer.Option(help="Every scope on every project.")] = False,
    scope: Annotated[
        list[str] | None, typer.Option("--scope", help="Default: runs:read runs:write metrics:write.")
    ] = None,
    project: ProjectOption = None,
) -> None:
    """Create a user."""
    body: dict[str, Any] = {"username": username, "password": password, "admin": admin}
    if scope:
        body["scopes"] = scope
    if project:
        body["projects"] = project
    created = server(ctx).request("POST", "/api/v2/users", json=body)
    say(f"Created user {created['username']} ({' '.join(created['scopes'])}).")


@users.command("list")
def user_list(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every user."""
    params: dict[str, Any] = {"limit": 200}
    rows = every_page(server(ctx), "/api/v2/users", params)
    print_rows(rows, ["username", "admin", "scopes", "projects", "created_at", "disabled_at"], as_json)


@users.command("disable")
def user_disable(ctx: typer.Context, username: Annotated[str, typer.Argument()]) -> None:
    """Disable a user: no more logins, and every token they own is revoked."""
    disabled = server(ctx).request("DELETE", f"/api/v2/users/{username}")
    say(f"Disabled user {disabled['username']}; their tokens are revoked.")


@repos.callback()
def repo_main(
    ctx: typer.Context,
    webhook_url: Annotated[
        str,
        typer.Option(
            envvar="QAHUB_WEBHOOK_URL",
            default_factory=_default_webhook_url,
            help="The webhook listener (default: $QAHUB_WEBHOOK_URL, else http://$QAHUB_WEBHOOK_HOST:"
            "$QAHUB_WEBHOOK_PORT, from the environment or the checkout's .env; else http://127.0.0.1:5152).",
            show_default=False,
        ),
    ],
) -> None:
    qa_api = server(ctx)
    # the listener verifies tokens qa_api issued: send the one qahub would send to qa_api
    ctx.obj = Server(url=webhook_url.rstrip("/"), token_override=qa_api.token())


ProviderOption = Annotated[str, typer.Option(help="gitlab or github.")]
RepoProjectOption = Annotated[
    str, typer.Option("--project", help="GitLab's group/repo (path_with_namespace) or GitHub's owner/repo.")
]


@repos.command("add")
def repo_add(
    ctx: typer.Context,
    provider: ProviderOption,
    project: RepoProjectOption,
    clone_url: Annotated[str, typer.Option(help="Where the listener fetches the repository from.")],
    secret: Annotated[
        str,
        typer.Option(prompt=True, hide_input=True, help="The webhook's secret (as configured on the hook)."),
    ],
) -> None:
    """Register a repository; its webhooks are accepted from now on, and its history is sent to qa_api."""
    body = {"provider": provider, "project": project, "secret": secret, "clone_url": clone_url}
    created = server(ctx).request("POST", "/api/v2/repositories", json=body)
    where = f"{created['provider']} repository {created['project']}"
    say(f"Registered {where} (fetched from {created['clone_url']}).")


@repos.command("list")
def repo_list(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Registered repositories (never their secret)."""
    rows = every_page(server(ctx), "/api/v2/repositories", {"limit": 500})
    print_rows(rows, ["provider", "project", "clone_url", "created_at"], as_json)


@repos.command("remove")
def repo_remove(ctx: typer.Context, provider: ProviderOption, project: RepoProjectOption) -> None:
    """Forget a repository: its webhooks are refused from now on; its mirror and inbox are deleted."""
    removed = server(ctx).request("DELETE", f"/api/v2/repositories/{provider}/{project}")
    say(f"Removed {removed['provider']} repository {removed['project']}.")


@repos.command("deliveries")
def repo_deliveries(
    ctx: typer.Context,
    project: Annotated[str | None, typer.Option(help="Only this repository's.")] = None,
    state: Annotated[str | None, typer.Option(help="received, processing, done or failed.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The listener's inbox: each delivery's state, attempts and failure reason, newest first."""
    params: dict[str, Any] = {"limit": limit, "project": project, "state": state}
    page = server(ctx).request(
        "GET", "/api/v2/deliveries", params={k: v for k, v in params.items() if v is not None}
    )
    columns = ["id", "project", "event", "state", "attempts", "received_at", "reason"]
    print_rows(page["items"], columns, as_json)


@repos.command("reconcile")
def repo_reconcile(
    ctx: typer.Context, project: Annotated[str | None, typer.Option(help="Only this repository.")] = None
) -> None:
    """Fetch repositories now and send qa_api the commits and refs it lacks."""
    queued = server(ctx).request("POST", "/api/v2/reconcile", params={"project": project} if project else {})
    say(f"Reconciliation queued for {queued['repositories']} repositories.")


def _gate_server(ctx: typer.Context) -> Server:
    """The server and token of the `qa` CLI in the CI job, unless qahub's own are set (see `gate`)."""
    base = server(ctx)
    source = ctx.find_root().get_parameter_source("api_url")
    explicit = (source is not None and source.name in {"COMMANDLINE", "ENVIRONMENT"}) or variable(
        "QAHUB_API_URL"
    )
    url = base.url if explicit else (qaboard_url() or base.url).rstrip("/")
    return Server(url, base.token_override, fallback_token=os.environ.get("QA_TOKEN") or None)


@app.command("gate")
def gate_command(
    ctx: typer.Context,
    project: Annotated[
        str | None,
        typer.Option(
            help="The qa CLI's project id (default: $CI_PROJECT_PATH, else $GITHUB_REPOSITORY). "
            "Needed for a subproject (`name/subdir`) or a project.name other than the repository's path.",
            show_default=False,
        ),
    ] = None,
    commit: Annotated[
        str | None,
        typer.Option(
            help="A sha, branch or tag (default: $CI_COMMIT_SHA, $GIT_COMMIT, $CIRCLE_SHA1, "
            "$TRAVIS_COMMIT or $GITHUB_SHA, the first set, as the qa CLI reads them).",
            show_default=False,
        ),
    ] = None,
    batch: Annotated[str, typer.Option(help="The batch label.")] = "default",
    reference: Annotated[
        str | None,
        typer.Option(
            help="A sha, branch, tag or milestone (default: the server's choice, as GET /api/v2/compare).",
            show_default=False,
        ),
    ] = None,
    reference_batch: Annotated[
        str | None, typer.Option(help="The reference's batch label (default: --batch).", show_default=False)
    ] = None,
    reference_project: Annotated[
        str | None, typer.Option(help="The reference's project (default: --project).", show_default=False)
    ] = None,
    timeout: Annotated[
        str, typer.Option(help="How long to wait while runs are pending: 30m, 1h, 90s.")
    ] = "30m",
    interval: Annotated[str, typer.Option(help="How often to ask meanwhile.")] = "5s",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the final verdict as JSON (only it).")
    ] = False,
) -> None:
    """Wait while a commit's batch runs, then pass or fail it against its reference (GET /api/v2/verdict).

    \b
    Exit status: 0 pass, 1 fail (an output worse, or a run failed where the
    reference's did not), 2 error (server unreachable, unknown commit, bad
    token, still pending at --timeout). What got worse goes to stdout, progress
    and the outcome to stderr.

    \b
    The server is the qa CLI's: $QABOARD_HOSTNAME:$QABOARD_PORT, else
    $QABOARD_HOST, behind $QABOARD_PROTOCOL (default http), else $QABOARD_URL;
    --api-url or $QAHUB_API_URL win over them. The token is $QAHUB_TOKEN, else
    the one `qahub login` stored for that server, else $QA_TOKEN.
    """
    timeout_s, interval_s = gate.parse_seconds(timeout), gate.parse_seconds(interval)
    project = project or first_of(PROJECT_VARIABLES)
    commit = commit or first_of(COMMIT_VARIABLES)
    if not project:
        gate.error(
            "which project? Pass --project (in GitLab CI or GitHub Actions it defaults to the repository)"
        )
    if not commit:
        gate.error("which commit? Pass --commit (in CI it defaults to the commit built)")
    query = gate.GateQuery(
        project=project,
        commit=commit,
        batch=batch,
        reference=reference,
        reference_batch=reference_batch,
        reference_project=reference_project,
    )
    gate.run(_gate_server(ctx), query, timeout_s=timeout_s, interval_s=interval_s, as_json=as_json)


if __name__ == "__main__":
    sys.exit(app())
