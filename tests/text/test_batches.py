"""Texts that concurrent requests bring are analysed together, one after another, and each
request gets its own texts' analyses: not another's, not another's failure, and not a
wait that never ends."""

import asyncio
import contextvars
import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from app.text.analyser import TextAnalyser
from app.text.schemas import TextAnalysis
from app.text.service import BATCH_TURNS, AnalysisBatches, CustomerText, analyse

TEXTS = [
    "Es la tercera vez que escribo: el pedido sigue sin llegar y estoy muy enfadada.",
    "Thank you, the technician was lovely and everything works now.",
    "A internet está fora do ar desde ontem, preciso de um técnico urgente.",
    "Je voudrais annuler mon abonnement et être remboursé, c'est inacceptable.",
    "¿Podéis decirme cuándo llega la factura de este mes?",
]


def _texts(*texts: str) -> list[CustomerText]:
    at = datetime(2026, 4, 14, 10, 5, tzinfo=UTC)
    return [CustomerText(uuid.uuid4(), at, uuid.uuid4(), text) for text in texts]


class Recording:
    """The real analyser, writing each text it analyses into ``log`` (and failing on
    ``failing``)."""

    def __init__(
        self,
        real: TextAnalyser,
        log: list[str],
        failing: str | None = None,
        error: BaseException | None = None,
    ):
        self.real, self.log, self.failing = real, log, failing
        self.error = error or ValueError("this text breaks the analyser")
        self.version = real.version

    def analyse(self, text: str, language: str | None = None) -> TextAnalysis:
        self.log.append(text)
        if text == self.failing:
            raise self.error
        return self.real.analyse(text, language)


def _recording(
    real: TextAnalyser,
    log: list[str],
    failing: str | None = None,
    error: BaseException | None = None,
) -> TextAnalyser:
    return cast(TextAnalyser, Recording(real, log, failing, error))


class Interrupt(BaseException):
    """Not an Exception: what a future should not be handed as a request's failure."""


async def _ticking(log: list[str], stop: asyncio.Event) -> None:
    """Another request's work: a mark in ``log`` at every turn of the event loop."""
    while not stop.is_set():
        log.append("tick")
        await asyncio.sleep(0)


async def test_concurrent_requests_get_their_own_analyses_made_one_after_another(
    analyser: TextAnalyser,
) -> None:
    log: list[str] = []
    stop = asyncio.Event()
    ticking = asyncio.create_task(_ticking(log, stop))
    batches = AnalysisBatches()
    recording = _recording(analyser, log)
    requests = [_texts(text) for text in TEXTS[:4]] + [_texts(*TEXTS[3:])]

    async def request(texts: list[CustomerText]) -> list[dict[str, Any]]:
        await asyncio.sleep(0)
        return await batches.analyse(recording, texts)

    answers = await asyncio.gather(*(request(texts) for texts in requests))
    stop.set()
    await ticking

    for texts, answer in zip(requests, answers, strict=True):
        assert answer == analyse(analyser, texts)
    # Every text of every request analysed in one run, no other work between them.
    analysed = [i for i, entry in enumerate(log) if entry != "tick"]
    assert len(analysed) == 6
    assert analysed == list(range(analysed[0], analysed[0] + 6))
    assert log.count("tick") >= BATCH_TURNS - 1  # they waited for the others' texts


async def test_one_text_alone_is_analysed_without_waiting_for_anyone(
    analyser: TextAnalyser,
) -> None:
    batches = AnalysisBatches()
    texts = _texts(TEXTS[0])
    answer = await asyncio.wait_for(batches.analyse(analyser, texts), timeout=5)
    assert answer == analyse(analyser, texts)


async def test_a_text_that_breaks_the_analyser_fails_only_its_own_request(
    analyser: TextAnalyser,
) -> None:
    log: list[str] = []
    batches = AnalysisBatches()
    recording = _recording(analyser, log, failing=TEXTS[1])
    answers = await asyncio.gather(
        *(batches.analyse(recording, _texts(text)) for text in TEXTS), return_exceptions=True
    )
    assert isinstance(answers[1], ValueError)
    for text, answer in zip(TEXTS, answers, strict=True):
        if text != TEXTS[1]:
            assert isinstance(answer, list)
            assert answer[0]["sentiment"] == analyser.analyse(text).sentiment.label
    assert log == TEXTS


async def test_a_request_cancelled_while_it_waits_is_not_analysed_and_the_others_are(
    analyser: TextAnalyser,
) -> None:
    log: list[str] = []
    batches = AnalysisBatches()
    recording = _recording(analyser, log)
    waiting = [asyncio.create_task(batches.analyse(recording, _texts(text))) for text in TEXTS]
    await asyncio.sleep(0)  # each handed its texts in
    waiting[2].cancel()
    done = await asyncio.wait_for(asyncio.gather(*waiting, return_exceptions=True), timeout=5)
    assert isinstance(done[2], asyncio.CancelledError)
    assert log == TEXTS[:2] + TEXTS[3:]
    assert all(isinstance(answer, list) and len(answer) == 1 for answer in done[:2] + done[3:])


def test_texts_left_waiting_on_a_closed_event_loop_do_not_hold_up_the_next(
    analyser: TextAnalyser,
) -> None:
    batches = AnalysisBatches()

    async def left_waiting() -> None:
        asyncio.get_running_loop().create_task(batches.analyse(analyser, _texts(TEXTS[0])))
        await asyncio.sleep(0)  # handed in; the loop closes before its batch runs

    async def next_request() -> Sequence[dict[str, Any]]:
        return await asyncio.wait_for(batches.analyse(analyser, _texts(TEXTS[1])), timeout=5)

    asyncio.run(left_waiting())
    answer = asyncio.run(next_request())
    assert answer[0]["language"] == "en"
    asyncio.run(left_waiting())
    asyncio.run(next_request())
    # The closed loops' batches are let go, not kept with the loops they hold.
    assert len(batches._open) <= 1


@pytest.mark.parametrize("turns", [1, 2])
async def test_few_turns_still_answer_every_request(analyser: TextAnalyser, turns: int) -> None:
    batches = AnalysisBatches(turns)
    requests = [_texts(text) for text in TEXTS]
    answers = await asyncio.gather(*(batches.analyse(analyser, texts) for texts in requests))
    for texts, answer in zip(requests, answers, strict=True):
        assert answer == analyse(analyser, texts)


@pytest.mark.parametrize(
    "error", [StopIteration(), Interrupt()], ids=["StopIteration", "BaseException"]
)
async def test_what_a_future_cannot_hold_fails_its_own_request_and_no_other(
    analyser: TextAnalyser, error: BaseException
) -> None:
    log: list[str] = []
    batches = AnalysisBatches()
    recording = _recording(analyser, log, failing=TEXTS[1], error=error)
    loop = asyncio.get_running_loop()
    escaped: list[BaseException] = []
    kept = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: escaped.append(context["exception"]))
    try:
        answers = await asyncio.wait_for(
            asyncio.gather(
                *(batches.analyse(recording, _texts(text)) for text in TEXTS),
                return_exceptions=True,
            ),
            timeout=5,
        )
    finally:
        loop.set_exception_handler(kept)
    assert isinstance(answers[1], RuntimeError)
    assert answers[1].__cause__ is error
    assert all(isinstance(answers[i], list) for i in (0, 2, 3, 4))
    assert log == TEXTS
    # An interrupt goes on up once every request is answered; a StopIteration does not.
    assert escaped == ([] if isinstance(error, Exception) else [error])


def test_two_event_loops_at_once_each_get_their_own_requests_answered(
    analyser: TextAnalyser,
) -> None:
    batches = AnalysisBatches()
    answered: dict[int, int] = {}

    async def many() -> int:
        async def one(i: int) -> bool:
            for _ in range(i % 7):  # hand-ins spread over the turns of each loop
                await asyncio.sleep(0)
            texts = _texts(f"thanks {i}")
            answer = await batches.analyse(analyser, texts)
            return bool(answer[0]["event_id"] == texts[0].event_id)

        tasks = [asyncio.create_task(one(i)) for i in range(300)]
        done, pending = await asyncio.wait(tasks, timeout=10)
        for task in pending:
            task.cancel()
        return sum(task.result() for task in done)

    def thread(n: int) -> None:
        answered[n] = asyncio.run(many())

    threads = [threading.Thread(target=thread, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert answered == {0: 300, 1: 300}


REQUEST = contextvars.ContextVar("request", default="none")


async def test_a_batch_is_not_analysed_in_the_first_requests_context(
    analyser: TextAnalyser,
) -> None:
    seen: list[str] = []

    class Seeing(Recording):
        def analyse(self, text: str, language: str | None = None) -> TextAnalysis:
            seen.append(REQUEST.get())
            return self.real.analyse(text, language)

    batches = AnalysisBatches()
    seeing = cast(TextAnalyser, Seeing(analyser, []))

    async def request(name: str, text: str) -> list[dict[str, Any]]:
        REQUEST.set(name)
        return await batches.analyse(seeing, _texts(text))

    await asyncio.gather(*(request(f"request-{i}", text) for i, text in enumerate(TEXTS)))
    assert seen == ["none"] * len(TEXTS)
