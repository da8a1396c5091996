"""Workers: turn the inbox into qa_api updates, one repository at a time, in order, losing nothing.

A dispatcher wakes when a delivery arrives (or every `webhook_poll_seconds`) and starts, up to
`webhook_workers` at once, one task per repository with due deliveries. That task claims every received
delivery of its repository (oldest first), fetches the mirror, compares it with what qa_api was last told
(`changes.plan`) and sends the updates. One fetch covers every delivery claimed with it: the mirror then
holds at least what each of them announced, so they are all done together.

    qa_api unreachable or 5xx     the deliveries wait (received, reason set) and are retried with an
                                  exponential backoff up to `webhook_retry_max_seconds`, for ever
    the fetch fails               the same, until `webhook_max_git_attempts`; then failed
    qa_api refuses a body (4xx)   that project's later bodies are held back, the other projects get
                                  theirs; failed, with qa_api's reason, the project and the refs held back
    another process holds it      looked at again after the poll interval, then twice as long each
                                  time, up to `webhook_retry_max_seconds`; other repositories go on
A ref is recorded as sent (`sent_ref`) as soon as every project it concerns has accepted its update.
A failed delivery is processed again when its sender redelivers it, and the next delivery, reconcile or
periodic reconcile of the repository sends whatever the failure held back (the comparison is with what
qa_api accepted, not with what was attempted).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from qahub_shared.backoff import retry_delay
from qahub_shared.database import UNREACHABLE
from qahub_shared.logging import Outage
from webhook_listener import changes, mirror
from webhook_listener.changes import SentRef
from webhook_listener.config import Settings
from webhook_listener.deliveries import repository as inbox
from webhook_listener.mirror import RefKey
from webhook_listener.qa_api import QaApi, QaApiRefused, QaApiUnavailable
from webhook_listener.repositories import repository as repositories
from webhook_listener.repositories.repository import Repository
from webhook_listener.repositories.service import clone_url_refusal, mirror_path

logger = logging.getLogger(__name__)

LOCK_NAMESPACE = 5152
"""First key of the listener's advisory locks (the second is the repository's id)."""
# how often finished deliveries past the retention are deleted
PURGE_SECONDS = 3600.0
# the longest reason recorded for a failed delivery (many refused subprojects make a long one)
MAX_REASON = 2000


@dataclass(slots=True)
class _Sent:
    """What sending a plan did."""

    refs: int = 0
    """Refs recorded as sent: every project they concern accepted their update."""
    commits: int = 0
    refusals: list[str] = field(default_factory=list)
    """Per project qa_api refused: the project, the refs held back, qa_api's reason."""


def _ref_order(key: RefKey) -> tuple[str, str]:
    return (key.kind, key.name)


class Workers:
    def __init__(self, settings: Settings, engine: AsyncEngine, qa_api: QaApi) -> None:
        self._settings = settings
        self._engine = engine
        self._qa_api = qa_api
        self._wake = asyncio.Event()
        self._active: dict[int, asyncio.Task[None]] = {}
        self._locked_elsewhere: dict[int, tuple[int, float]] = {}
        """Repository id → how many times in a row another process held its lock, and the loop time before
        which it is not tried again."""

    def wake(self) -> None:
        """Look at the inbox now (a delivery arrived)."""
        self._wake.set()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Workers]:
        """Dispatch until the context closes (what a stopped process left half-done is resumed when its
        repository comes up: see `_process_locked`)."""
        tasks = [asyncio.create_task(self._dispatch_forever(), name="webhook-dispatcher")]
        if self._settings.webhook_reconcile_seconds > 0:
            tasks.append(asyncio.create_task(self._reconcile_forever(), name="webhook-reconcile"))
        if self._settings.webhook_retention_days > 0:
            tasks.append(asyncio.create_task(self._purge_forever(), name="webhook-retention"))
        try:
            yield self
        finally:
            for task in [*tasks, *self._active.values()]:
                task.cancel()
            for task in [*tasks, *self._active.values()]:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _dispatch_forever(self) -> None:
        outage = Outage(logger, "dispatching deliveries", level=logging.ERROR)
        while True:
            self._wake.clear()
            try:
                await self._dispatch()
            except Exception as exc:  # tried again at the next poll
                # a traceback for a bug, not for a database that is down
                outage.failed(exc, traceback=not isinstance(exc, UNREACHABLE))
            else:
                outage.succeeded()
            # not asyncio.wait_for: on Python 3.11 it can swallow a cancellation that comes just as the
            # event is set, and the dispatcher would outlive the application's shutdown
            try:
                async with asyncio.timeout(self._settings.webhook_poll_seconds):
                    await self._wake.wait()
            except TimeoutError:
                continue
            # let a burst gather: fewer fetches for the same deliveries, and the CPU goes to
            # acknowledging them first
            await asyncio.sleep(self._settings.webhook_batch_seconds)

    async def _dispatch(self) -> None:
        async with self._engine.connect() as connection:
            due = await inbox.due_repositories(connection)
        # a repository no longer due was finished by whoever held it: its backoff starts afresh next time
        self._locked_elsewhere = {
            repository_id: backoff
            for repository_id, backoff in self._locked_elsewhere.items()
            if repository_id in due
        }
        now = asyncio.get_running_loop().time()
        for repository_id in due:
            if len(self._active) >= self._settings.webhook_workers:
                return
            if repository_id in self._active or self._locked_elsewhere.get(repository_id, (0, now))[1] > now:
                continue
            task = asyncio.create_task(self._work(repository_id), name=f"repository-{repository_id}")
            self._active[repository_id] = task
            task.add_done_callback(functools.partial(self._done, repository_id))

    def _done(self, repository_id: int, _: asyncio.Task[None]) -> None:
        self._active.pop(repository_id, None)
        self._wake.set()  # a slot is free, and more deliveries may have come for this repository

    async def _reconcile_forever(self) -> None:
        while True:
            await asyncio.sleep(self._settings.webhook_reconcile_seconds)
            try:
                async with self._engine.begin() as connection:
                    for repository_id in await repositories.all_ids(connection):
                        await inbox.queue_reconcile(connection, repository_id)
                self.wake()
            except Exception:
                logger.exception("could not queue the periodic reconciliation")

    async def purge(self) -> int:
        """Delete the deliveries finished longer ago than the retention; returns how many."""
        older_than = timedelta(days=self._settings.webhook_retention_days)
        async with self._engine.begin() as connection:
            purged = await inbox.purge_finished(connection, older_than=older_than)
        if purged:
            logger.info("inbox: deleted %d deliveries finished over %s ago", purged, older_than)
        return purged

    async def _purge_forever(self) -> None:
        while True:
            try:
                await self.purge()
            except Exception:
                logger.exception("could not delete old deliveries; tries again later")
            await asyncio.sleep(PURGE_SECONDS)

    async def _work(self, repository_id: int) -> None:
        try:
            locked = await self.process(repository_id)
        except Exception:
            logger.exception("processing the deliveries of repository %d failed", repository_id)
            return
        if locked:
            self._locked_elsewhere.pop(repository_id, None)
        else:
            self._back_off(repository_id)

    def _back_off(self, repository_id: int) -> None:
        """Another process holds the repository: look at it again later and later (doubling from the poll
        interval, up to `webhook_retry_max_seconds`); the other repositories are dispatched meanwhile."""
        settings = self._settings
        times = self._locked_elsewhere.get(repository_id, (0, 0.0))[0] + 1
        delay = retry_delay(times, settings.webhook_poll_seconds, settings.webhook_retry_max_seconds)
        self._locked_elsewhere[repository_id] = (times, asyncio.get_running_loop().time() + delay)
        logger.info(
            "repository %d: another listener process is working on it; looking again in %.1f s",
            repository_id,
            delay,
        )

    async def process(self, repository_id: int) -> bool:
        """Claim the repository's received deliveries and bring qa_api up to date with its mirror; False
        when another process holds the repository.

        Several listener processes may share the inbox: a PostgreSQL advisory lock, held while the
        repository is worked on, keeps the others away from it (they look again later).
        """
        async with self._engine.connect() as lock:
            key = {"namespace": LOCK_NAMESPACE, "id": repository_id}
            if not await lock.scalar(text("SELECT pg_try_advisory_lock(:namespace, :id)"), key):
                return False
            await lock.commit()
            try:
                await self._process_locked(repository_id)
            finally:
                await lock.execute(text("SELECT pg_advisory_unlock(:namespace, :id)"), key)
                await lock.commit()
        return True

    async def _process_locked(self, repository_id: int) -> None:
        async with self._engine.begin() as connection:
            resumed = await inbox.resume_interrupted(connection, repository_id)
            if resumed:
                logger.info("repository %d: resuming %d interrupted deliveries", repository_id, resumed)
            ids = await inbox.claim(connection, repository_id)
            found = await repositories.get(connection, repository_id)
            sent = await repositories.sent_refs(connection, repository_id)
            attempts = await inbox.fewest_attempts(connection, ids) if ids else 0
        if not ids or found is None:
            return
        try:
            await self._bring_up_to_date(ids, found, sent, attempts)
        except Exception as error:
            # a bug or the database: the deliveries must not stay `processing` for ever
            logger.exception("processing deliveries %s of %s failed", ids, found.path)
            reason = f"internal error: {type(error).__name__}"
            if attempts >= self._settings.webhook_max_git_attempts:
                await self._finish(ids, reason=reason)
            else:
                await self._retry(ids, reason, attempts)

    async def _bring_up_to_date(
        self, ids: list[int], found: Repository, sent: dict[RefKey, SentRef], attempts: int
    ) -> None:
        repository_id = found.id
        settings = self._settings
        refusal = clone_url_refusal(settings, found.clone_url)
        if refusal is not None:
            # retrying would not help: the URL, or the settings, must change
            await self._finish(ids, reason=f"the registered clone URL {refusal}")
            return
        path = mirror_path(settings, found)
        try:
            await asyncio.to_thread(
                mirror.sync_mirror,
                path,
                found.clone_url,
                timeout_seconds=settings.webhook_git_timeout_seconds,
            )
            plan = await asyncio.to_thread(
                changes.plan, path, found.path, sent, new_ref_max_commits=settings.webhook_new_ref_max_commits
            )
        except mirror.GitFailure as failure:
            reason = f"git: {failure}"
            if attempts >= settings.webhook_max_git_attempts:
                await self._finish(ids, reason=reason)
            else:
                await self._retry(ids, reason, attempts)
            return
        try:
            outcome = await self._send(repository_id, plan)
        except QaApiUnavailable as unavailable:
            await self._retry(ids, str(unavailable), attempts)
            return
        logger.info(
            "repository %s: %d refs and %d commits sent, %d projects refused",
            found.path,
            outcome.refs,
            outcome.commits,
            len(outcome.refusals),
        )
        if outcome.refusals:
            reason = "qa_api refused " + "; ".join(outcome.refusals)
            await self._finish(ids, reason=reason[:MAX_REASON])
            return
        async with self._engine.begin() as connection:
            await inbox.finish(connection, ids)

    async def _send(self, repository_id: int, plan: changes.Plan) -> _Sent:
        """Send the plan's bodies in order, and record each ref as sent as soon as every project it
        concerns has accepted its update.

        A body qa_api refuses holds back its project's later bodies (its ref updates may name the commits
        refused), and the refs whose update that project did not get stay as they were recorded: the next
        delivery or reconcile sends them again. The other projects get all of theirs. QaApiUnavailable
        stops the sending; what was recorded until then stays recorded.
        """
        waiting = {key: set(projects) for key, projects in plan.targets.items()}
        sent = _Sent()
        refused: dict[str, str] = {}
        # a ref that concerns no project (there is none today: each concerns the repository's own) is sent
        await self._record(repository_id, plan, [key for key, projects in waiting.items() if not projects])
        for updates in plan.updates:
            if updates.project in refused:
                continue
            try:
                await self._qa_api.send(updates)
            except QaApiRefused as refusal:
                refused[updates.project] = str(refusal)
                continue
            sent.commits += len(updates.commits)
            complete: list[RefKey] = []
            for ref in updates.refs:
                key = RefKey(ref.kind.value, ref.name)
                waiting[key].discard(updates.project)
                if not waiting[key]:
                    complete.append(key)
            await self._record(repository_id, plan, complete)
            sent.refs += len(complete)
        for project, reason in refused.items():
            held = sorted((key for key, projects in waiting.items() if project in projects), key=_ref_order)
            named = ", ".join(f"{key.kind} {key.name}" for key in held[:5])
            more = f" and {len(held) - 5} more" if len(held) > 5 else ""
            sent.refusals.append(
                f"{project} ({named}{more} held back): {reason}" if held else f"{project}: {reason}"
            )
        return sent

    async def _record(self, repository_id: int, plan: changes.Plan, keys: list[RefKey]) -> None:
        """Remember that qa_api accepted the updates of these refs, for every project they concern."""
        if keys:
            async with self._engine.begin() as connection:
                await repositories.record_sent_refs(
                    connection, repository_id, {key: plan.refs_after[key] for key in keys}
                )

    async def _finish(self, ids: list[int], *, reason: str) -> None:
        logger.warning("deliveries %s failed: %s", ids, reason)
        async with self._engine.begin() as connection:
            await inbox.finish(connection, ids, reason=reason)

    async def _retry(self, ids: list[int], reason: str, attempts: int) -> None:
        settings = self._settings
        delay = retry_delay(attempts, settings.webhook_retry_min_seconds, settings.webhook_retry_max_seconds)
        logger.warning("deliveries %s wait %.1fs before another attempt: %s", ids, delay, reason)
        async with self._engine.begin() as connection:
            await inbox.retry_later(connection, ids, reason=reason, delay_seconds=delay)
