"""A tool's MCP result as the one text an agent reads: the texts, a marker for each binary, else the JSON."""

from __future__ import annotations

import json

import mcp_types as types

from studio.tools.tool import CallResult


def result_text(result: types.CallToolResult) -> CallResult:
    """The result's text contents joined by newlines; images, audio and blobs become `[mime, N bytes]`."""
    parts = [_content_text(block) for block in result.content]
    if not parts and result.structured_content is not None:
        parts = [json.dumps(result.structured_content, ensure_ascii=False)]
    return CallResult("\n".join(parts), bool(result.is_error))


def _content_text(block: types.ContentBlock) -> str:
    if isinstance(block, types.TextContent):
        return block.text
    if isinstance(block, types.ImageContent | types.AudioContent):
        return _marker(block.mime_type, block.data)
    if isinstance(block, types.ResourceLink):
        return f"[link {block.uri}]"
    if isinstance(block, types.EmbeddedResource):
        resource = block.resource
        if isinstance(resource, types.TextResourceContents):
            return resource.text
        return _marker(resource.mime_type or "application/octet-stream", resource.blob)
    return f"[{block.type}]"


def _marker(mime_type: str, base64_data: str) -> str:
    """`[image/png, 1234 bytes]`: the size of the decoded data, without decoding it."""
    size = len(base64_data) * 3 // 4 - base64_data[-2:].count("=")
    return f"[{mime_type}, {size} bytes]"
