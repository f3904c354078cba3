"""Every span attribute, event and link name hoptrace writes or reads, in one place.

`gen_ai.*` names follow the OpenTelemetry GenAI semantic conventions
(open-telemetry/semantic-conventions-genai, development status; the spellings
match semantic-conventions v1.37+ as emitted by pydantic-ai and the contrib
instrumentations). Where the conventions have no name, hoptrace's own live
under `hoptrace.*`. The README lists all of them; the collector reads them
from here, so a rename is one edit.
"""

from __future__ import annotations

from typing import Final

# --- OTel GenAI conventions -------------------------------------------------

GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_AGENT_NAME: Final = "gen_ai.agent.name"
"""On an agent span its own name; on tool and model spans the agent running them."""
GEN_AI_AGENT_DESCRIPTION: Final = "gen_ai.agent.description"
GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ARGUMENTS: Final = "gen_ai.tool.call.arguments"
GEN_AI_TOOL_CALL_RESULT: Final = "gen_ai.tool.call.result"
GEN_AI_WORKFLOW_NAME: Final = "gen_ai.workflow.name"
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_SYSTEM: Final = "gen_ai.system"
"""Deprecated spelling of the provider, still sent by litellm and older emitters."""
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"
GEN_AI_TOOL_DEFINITIONS: Final = "gen_ai.tool.definitions"
"""The four content attributes (opt-in in the conventions, JSON text here): shapes of the
schemas gen-ai-{input,output}-messages.json, gen-ai-system-instructions.json and
gen-ai-tool-definitions.json of open-telemetry/semantic-conventions-genai@11069855
(no release yet; the same shapes as semantic-conventions v1.37.0)."""
GEN_AI_PROMPT: Final = "gen_ai.prompt"
"""Deprecated (removed) content attributes still sent by older emitters; read at ingest."""
GEN_AI_COMPLETION: Final = "gen_ai.completion"
GEN_AI_REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TOP_P: Final = "gen_ai.request.top_p"
GEN_AI_REQUEST_SEED: Final = "gen_ai.request.seed"
GEN_AI_REQUEST_STOP_SEQUENCES: Final = "gen_ai.request.stop_sequences"
GEN_AI_REQUEST_FREQUENCY_PENALTY: Final = "gen_ai.request.frequency_penalty"
GEN_AI_REQUEST_PRESENCE_PENALTY: Final = "gen_ai.request.presence_penalty"
GEN_AI_REQUEST_CHOICE_COUNT: Final = "gen_ai.request.choice.count"
GEN_AI_REQUEST_STREAM: Final = "gen_ai.request.stream"
CAPTURE_CONTENT_ENV: Final = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
"""The OTel switch for GenAI content capture; "false" (or NO_CONTENT) turns it off in hoptrace."""
ERROR_TYPE: Final = "error.type"

# gen_ai.operation.name values hoptrace emits
OP_WORKFLOW: Final = "invoke_workflow"
OP_AGENT: Final = "invoke_agent"
OP_TOOL: Final = "execute_tool"
OP_CHAT: Final = "chat"

# --- hoptrace's own ----------------------------------------------------------

HOPTRACE_KIND: Final = "hoptrace.kind"
"""What the span is to hoptrace: workflow, agent, tool, llm or span."""
AGENT_ROLE: Final = "hoptrace.agent.role"
"""Free-form role given to `@agent(role=...)`, e.g. "reviewer"."""
AGENT_SPAN_ID: Final = "hoptrace.agent.span_id"
"""On tool, model and plain spans: hex span id of the nearest enclosing agent span."""
INPUT: Final = "hoptrace.input"
"""Bounded JSON preview of the call's arguments."""
OUTPUT: Final = "hoptrace.output"
"""Bounded JSON preview of the return value (or of the yielded items)."""
COST_USD: Final = "hoptrace.cost_usd"
"""Cost of a model call in USD from litellm's price map; absent when unknown."""
MESSAGES_TRUNCATED: Final = "hoptrace.messages.truncated"
"""True on a model-call span whose message content was cut to the size caps."""
MESSAGES_ORIGINAL_CHARS: Final = "hoptrace.messages.original_chars"
"""Characters of message text before the caps (present only when truncated)."""
TOOL_CHOICE: Final = "hoptrace.request.tool_choice"
"""The request's tool_choice ("auto", "required", a tool name), when given."""
PENDING: Final = "hoptrace.pending"
"""True on the copy of a span sent at its start; the finished span replaces it."""
GENERATOR_CLOSED: Final = "hoptrace.generator.closed"
"""True on a generator/async-generator span whose consumer stopped early (close()); not an error."""
RUN_ATTRIBUTE_PREFIX: Final = "hoptrace.run."
"""Prefix of user-supplied run attributes set with `tracer.set_run_attributes`."""

# Delegation: on the receiving agent span when another agent was running.
HANDOFF_FROM_AGENT: Final = "hoptrace.handoff.from_agent"
HANDOFF_FROM_SPAN_ID: Final = "hoptrace.handoff.from_span_id"
HANDOFF_PAYLOAD: Final = "hoptrace.handoff.payload"
"""Bounded preview of what the receiver actually got."""

# Data flow and explicit handoffs are span links from the receiver to the producer.
LINK_TYPE: Final = "hoptrace.link.type"
LINK_TYPE_HANDOFF: Final = "handoff"
HANDOFF_KIND: Final = "hoptrace.handoff.kind"
"""On a handoff link: "data" or "explicit"."""
HANDOFF_ARGUMENT: Final = "hoptrace.handoff.argument"
"""On a data handoff link: which argument carried the value (e.g. "draft" or "items[2]")."""
HANDOFF_ID: Final = "hoptrace.handoff.id"
"""Ties an explicit handoff event to the link on the receiver."""
HANDOFF_TO_AGENT: Final = "hoptrace.handoff.to_agent"
EVENT_HANDOFF: Final = "hoptrace.handoff"
"""Event on the sender span of an explicit `handoff()`."""

KIND_DELEGATE: Final = "delegate"
KIND_DATA: Final = "data"
KIND_EXPLICIT: Final = "explicit"
KIND_TRANSFER: Final = "transfer"
"""A framework's transfer tool (`transfer_to_<agent>`, ADK `transfer_to_agent`, OpenAI Agents
handoffs): the sender hands control to an agent that runs next, usually as a sibling."""

# The open GenAI proposal for handoffs (semantic-conventions-genai PR 98): an `execute_tool
# transfer_to_<agent>` span carrying these. hoptrace's own handoff() emits them too.
GEN_AI_HANDOFF_SOURCE_NAME: Final = "gen_ai.agent.handoff.source.name"
GEN_AI_HANDOFF_TARGET_NAME: Final = "gen_ai.agent.handoff.target.name"

# Errors: where an exception started and how it travelled.
ERROR_ROLE: Final = "hoptrace.error.role"
"""origin | propagated | recovered."""
ERROR_CAUSE_SPAN_ID: Final = "hoptrace.error.cause_span_id"
"""Hex span id of the origin of this span's error (absent on the origin itself)."""
ERROR_MESSAGE: Final = "hoptrace.error.message"
RECOVERED_SPAN_IDS: Final = "hoptrace.recovered.span_ids"
"""On a span that completed normally after catching errors: their origin span ids."""
RECOVERED_TYPES: Final = "hoptrace.recovered.types"
RECOVERED_MESSAGES: Final = "hoptrace.recovered.messages"

ROLE_ORIGIN: Final = "origin"
ROLE_PROPAGATED: Final = "propagated"
ROLE_RECOVERED: Final = "recovered"
ROLE_REJECTED: Final = "rejected"

EVENT_REJECT: Final = "hoptrace.reject"
"""Event on the reviewer's span when it calls `reject()`."""
REJECT_SPAN_ID: Final = "hoptrace.reject.span_id"
"""Hex span id of the agent span that produced the rejected value."""
REJECT_AGENT: Final = "hoptrace.reject.agent"
REJECT_REASON: Final = "hoptrace.reject.reason"
REJECT_VALUE: Final = "hoptrace.reject.value"
REJECTION_ERROR_TYPE: Final = "Rejected"
"""error_type reported for a rejected output in the `errors` view."""

__all__ = [name for name in dir() if name.isupper()]
