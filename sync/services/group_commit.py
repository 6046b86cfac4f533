"""Group commit: what the threads of one process want stored at the same moment, stored by one statement.

Every webhook delivery was its own INSERT and its own COMMIT, sent from its own request thread: a round trip, a
statement to bind and run and a transaction to start and commit in PostgreSQL, for one row. Under load most of that
was the same fixed cost paid again and again (about half of PostgreSQL's CPU per delivery, and a good part of the
web worker's). Here the first thread to arrive while nothing is being stored leads: it runs one statement, on its own
database connection, for itself and for every thread that is waiting at that moment, then hands each of them its own
outcome and passes the lead to the first one that arrived meanwhile. Threads that arrive while a statement is in
flight wait for it and go together in the next one, so the busier the process, the larger the groups; a lone
delivery is stored at once, by its own thread, as before.

What an answer means does not change: a thread returns only once the statement that stored its item has
committed. When that statement fails, nothing of the group was stored (it is one statement, one transaction) and
every thread in it raises: the leader the error itself, the others GroupFailed. When the error is in the data
(`alone_on`, e.g. a body PostgreSQL refuses), one item could fail everybody else's, so each item of the group is
then tried alone and only the one at fault fails.
"""

import asyncio
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

from django.db import DatabaseError


class GroupFailed(DatabaseError):
    """The statement that was to store this item together with others failed; nothing of that group was stored.
    Its cause is the statement's own error."""


_PENDING = object()


class _Waiting:
    """One thread's item, and what became of it."""

    __slots__ = ("error", "item", "leads", "outcome", "ready")

    def __init__(self, item):
        self.item = item
        # Released once the outcome is in, or the thread is to lead: a bare lock is the cheapest way to wake one
        # thread (an Event builds a condition and a lock of its own for every wait).
        self.ready = threading.Lock()
        self.ready.acquire()
        self.leads = False  # set, before `ready` is released, when the thread is to lead the next group instead
        self.outcome = _PENDING
        self.error: BaseException | None = None

    def result(self):
        if self.error is not None:
            raise self.error
        return self.outcome


class GroupCommit:
    """Runs `store(items) -> outcomes` (one outcome per item, in order, committed before it returns) for the items
    that threads submit together, at most `max_items` and `max_weight` (by `weight(item)`) per group."""

    def __init__(
        self,
        store: Callable[[Sequence], list],
        *,
        max_items: int,
        max_weight: int,
        weight: Callable[[object], int] = lambda item: 1,
        alone_on: tuple[type[BaseException], ...] = (),
    ):
        self.store = store
        self.max_items = max_items
        self.max_weight = max_weight
        self.weight = weight
        self.alone_on = alone_on
        self._lock = threading.Lock()
        self._waiting: deque[_Waiting] = deque()
        # True while a thread leads: it stores a group now, or has been woken to. While it is False nobody waits.
        self._busy = False

    def submit(self, item):
        """Store `item` with whatever other threads submit at the same moment; its outcome once committed."""
        waiting = _Waiting(item)
        with self._lock:
            self._waiting.append(waiting)
            leads = not self._busy
            self._busy = True
        if not leads:
            waiting.ready.acquire()
            if not waiting.leads:
                return waiting.result()
        # Leading: this item is the first waiting (nobody waited before it, or it was handed the lead as the first).
        self._lead()
        return waiting.result()

    def _lead(self) -> None:
        with self._lock:
            group = self._take()
        try:
            self._store(group)
        finally:
            failure = None
            for waiting in group:
                if waiting.outcome is _PENDING and waiting.error is None:  # something escaped _store: fail honestly
                    failure = failure or GroupFailed("The group's statement did not finish.")
                    waiting.error = failure
            with self._lock:
                if self._waiting:
                    successor = self._waiting[0]
                    successor.leads = True
                    successor.ready.release()
                else:
                    self._busy = False
            for waiting in group[1:]:
                waiting.ready.release()

    def _take(self) -> list[_Waiting]:
        """The first waiting items, within the group's limits (always at least one)."""
        group = [self._waiting.popleft()]
        weight = self.weight(group[0].item)
        while self._waiting and len(group) < self.max_items:
            weight += self.weight(self._waiting[0].item)
            if weight > self.max_weight:
                break
            group.append(self._waiting.popleft())
        return group

    def _store(self, group: list[_Waiting]) -> None:
        try:
            outcomes = self.store([waiting.item for waiting in group])
        except self.alone_on as exc:
            if len(group) == 1:
                _fail(group, exc)
                return
            for waiting in group:
                try:
                    waiting.outcome = self.store([waiting.item])[0]
                except Exception as alone:  # noqa: BLE001 - raised by that item's own thread
                    waiting.error = alone
            return
        except Exception as exc:  # noqa: BLE001 - raised by every thread of the group
            _fail(group, exc)
            return
        for waiting, outcome in zip(group, outcomes, strict=True):
            waiting.outcome = outcome


def _fail(group: list[_Waiting], error: Exception) -> None:
    """`error` for each thread of `group`: the leader (the first) raises it, the others a GroupFailed from it."""
    for waiting, raised in zip(group, _group_errors(len(group), error), strict=True):
        waiting.error = raised


def _group_errors(size: int, error: Exception) -> list[Exception]:
    """What each of a failed group's `size` submitters raises: the first `error` itself, the others GroupFailed."""
    errors: list[Exception] = [error]
    for _ in range(size - 1):
        failed = GroupFailed(f"Storing this together with {size - 1} other(s) failed: {error}")
        failed.__cause__ = error
        errors.append(failed)
    return errors


class AsyncGroupCommit:
    """Group commit on an event loop: `await submit(item)` stores `item` with the items that other tasks of the
    loop submit meanwhile, by `await store(items) -> outcomes` (one outcome per item, in order, committed before it
    returns).

    The threaded GroupCommit's rules, without threads: one group is stored at a time; the first item to arrive
    while nothing is being stored starts a writer task, which takes every item waiting (within the group's limits)
    and stores them together, then the items that arrived meanwhile, until none is left. A task gets its outcome
    only once the statement that stored its item has committed; when that statement fails, every item of the group
    gets the error (the first the error itself, the others GroupFailed from it) and none of them was stored.

    Bound to the loop it first ran on: a new loop (each test's asyncio.run) starts afresh.
    """

    def __init__(
        self,
        store: Callable[[Sequence], Awaitable[list]],
        *,
        max_items: int,
        max_weight: int,
        weight: Callable[[object], int] = lambda item: 1,
    ):
        self.store = store
        self.max_items = max_items
        self.max_weight = max_weight
        self.weight = weight
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting: deque[tuple[object, asyncio.Future]] = deque()
        self._writer: asyncio.Task | None = None  # kept: the loop holds only a weak reference to a task

    async def submit(self, item):
        """Store `item` with whatever other tasks submit at the same moment; its outcome once committed."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._waiting, self._writer = loop, deque(), None
        future = loop.create_future()
        self._waiting.append((item, future))
        if self._writer is None:
            # A task of its own, not the submitter's: a request that is cancelled must not stop the others' group.
            self._writer = loop.create_task(self._write())
        return await future

    async def _write(self) -> None:
        group = []
        try:
            while self._waiting:
                group = self._take()
                try:
                    outcomes = await self.store([item for item, _ in group])
                except Exception as exc:  # noqa: BLE001 - raised in every submitter of the group
                    for (_, future), error in zip(group, _group_errors(len(group), exc), strict=True):
                        if not future.done():
                            future.set_exception(error)
                    continue
                for (_, future), outcome in zip(group, outcomes, strict=True):
                    if not future.done():  # a submitter cancelled meanwhile
                        future.set_result(outcome)
        finally:
            self._writer = None
            # Cancelled (the loop is closing) or failed outside the statement: nobody is left waiting for ever.
            for _, future in [*group, *self._waiting]:
                if not future.done():
                    future.set_exception(GroupFailed("The group's statement did not finish."))
            self._waiting.clear()

    def _take(self) -> list[tuple[object, asyncio.Future]]:
        """The first waiting items, within the group's limits (always at least one)."""
        group = [self._waiting.popleft()]
        weight = self.weight(group[0][0])
        while self._waiting and len(group) < self.max_items:
            weight += self.weight(self._waiting[0][0])
            if weight > self.max_weight:
                break
            group.append(self._waiting.popleft())
        return group
