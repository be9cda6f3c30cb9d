"""The whole corpus through each official SDK against its simulator: the normalizer's wire schema is accepted
(the simulators reject a dialect violation with a 400) and the reply validates against the Pydantic model,
or the documented refusal happens before any call."""

import uuid

import pytest
from corpus import CORPUS, MODELS, PROVIDERS, outcome
from pydantic import BaseModel

from agentmesh.v1 import common_pb2, router_pb2
from services.common.errors import MeshError
from services.router.completion import Completion
from services.router.structured import contract_for

CASES = [pytest.param(model, provider, id=f"{model.__name__}-{provider}") for model in CORPUS for provider in PROVIDERS]


@pytest.mark.parametrize(("model", "provider"), CASES)
async def test_corpus_model_round_trips_through_the_sdk_or_is_refused_before_any_call(
    completion: Completion, model: type[BaseModel], provider: str
) -> None:
    expected = outcome(model, provider)
    request = router_pb2.CompleteRequest(
        run_id=f"corpus-{uuid.uuid4()}",
        messages=[common_pb2.Message(role="user", content=f"Fill in a {model.__name__}.")],
        max_output_tokens=2048,
    )
    contract = contract_for(f"corpus:{model.__name__}", "")
    entry = f"{provider}:{MODELS[provider]}"
    if expected == "refused":
        with pytest.raises(MeshError) as caught:
            await completion.complete_on(entry, request, contract)
        assert caught.value.kind == "bad_request"
        assert caught.value.detail(router_pb2.CompleteFailure) is None  # no attempt at all
        return
    reply, attempts = await completion.complete_on(entry, request, contract)
    assert len(attempts) == 1, attempts[0].error.message
    model.model_validate_json(reply.output_json)
