"""``python -m hal9 users`` and ``keys``: the API's users and API keys in ``data_dir/hal9.db``.

In a cluster (``network.nats_url`` set and ``network.shared_state`` on) they act on the cluster's
users and keys, kept in its JetStream bucket: a key made here is honoured by every server.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from hal9.config import Config, load_config
from hal9.errors import ConfigError
from hal9.logging import configure_logging

if TYPE_CHECKING:
    from hal9.auth import AuthService


#: The file in the data folder that holds the users and keys (and everything else a server keeps).
DATABASE_FILE = "hal9.db"
#: How to point a command at the server's data folder, for the messages below.
DATA_DIR_HINT = (
    "The data folder is data_dir of the server's config (default ./hal9-data, relative to the folder "
    "the server runs in): pass the same --config, or --data-dir DIR, or set HAL9_DATA_DIR."
)


def account_config(args: argparse.Namespace) -> Config:
    """The configuration of ``users`` and ``keys``: ``--config``, the environment, ``--data-dir``."""
    config = load_config(args.config)
    if getattr(args, "data_dir", None) is not None:
        config = config.model_copy(update={"data_dir": Path(args.data_dir)})
    return config.with_data_dir()


def locate_database(config: Config, *, creates: bool) -> Path:
    """The database a command works on, named on standard error; refused if it would be made by a read.

    A command that only reads or changes what exists (``list``, ``disable``, ``revoke``...) run
    where no server has been would otherwise create an empty database and report nothing: it
    is refused, naming the folder it looked in. A command that creates (``users create``,
    ``keys create``) may make a new database, and says so: a server started later with that
    data folder uses it.

    Raises:
        ConfigError: no database there, and the command does not create.
    """
    assert config.data_dir is not None  # account_config() gives one
    database = (config.data_dir / DATABASE_FILE).resolve()
    if not database.exists():
        if not creates:
            raise ConfigError(f"no database at {database}: no server has used that data folder. {DATA_DIR_HINT}")
        print(
            f"database: {database} (new: a server started with data folder {database.parent} will use it)",
            file=sys.stderr,
            flush=True,
        )
        return database
    print(f"database: {database}", file=sys.stderr, flush=True)
    return database


def _with_auth(
    args: argparse.Namespace, work: Callable[[AuthService], Awaitable[int]], *, creates: bool = False
) -> int:
    """Run ``work`` with the auth service of the configuration's data_dir (or its cluster's), started on its own."""
    from hal9.auth import AuthService

    config = account_config(args)
    if config.network.shared:
        print(
            f"users and keys: cluster {config.network.cluster!r} on NATS {config.network.nats_url}",
            file=sys.stderr,
            flush=True,
        )
    else:
        locate_database(config, creates=creates)
    # Logs to standard error: standard output carries the command's answer (a key can be piped on).
    configure_logging(config.logging.level, config.logging.format, stream=sys.stderr)
    service = AuthService.from_config(config)

    async def run() -> int:
        if not config.network.shared:
            async with service:
                return await work(service)
        from hal9.cluster.state import ClusterState

        async with ClusterState.from_config(config) as cluster:
            service.use_cluster(cluster)
            async with service:
                return await work(service)

    return anyio.run(run)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise ConfigError("no terminal to ask for the password: pass --password-stdin and pipe it in")
    password = getpass.getpass("password: ")
    if getpass.getpass("again: ") != password:
        raise ConfigError("the passwords differ")
    return password


def cmd_users(args: argparse.Namespace) -> int:
    from hal9.auth import Role

    async def work(auth: AuthService) -> int:
        if args.users_command == "create":
            user = await auth.create_user(args.username, _read_password(args.password_stdin), Role(args.role))
            print(f"created user {user.username} (id {user.id}, role {user.role.value})")
        elif args.users_command in ("disable", "enable"):
            user = await auth.set_user_active(args.username, args.users_command == "enable")
            print(f"user {user.username} is {'active' if user.active else 'disabled'}")
        else:
            for user in await auth.users():
                print(f"{user.id}\t{user.username}\t{user.role.value}\t{'active' if user.active else 'disabled'}")
        return 0

    return _with_auth(args, work, creates=args.users_command == "create")


def cmd_keys(args: argparse.Namespace) -> int:
    from hal9.auth import Role

    async def work(auth: AuthService) -> int:
        if args.keys_command == "create":
            expires_in = args.expires_days * 86400 if args.expires_days is not None else None
            created = await auth.create_key(args.name, Role(args.role), expires_in)
            print(f"created API key {created.key.id} ({created.key.name}, role {created.key.role.value});")
            print("it is shown this once, only its hash is kept:")
            print(created.token)
        elif args.keys_command == "revoke":
            key = await auth.revoke_key(args.key_id)
            print(f"revoked API key {key.id} ({key.name})")
        else:
            for key in await auth.keys():
                status = "revoked" if key.revoked_at is not None else "active" if key.active(time.time()) else "expired"
                print(f"{key.id}\t{key.name}\t{key.role.value}\t{status}")
        return 0

    return _with_auth(args, work, creates=args.keys_command == "create")
