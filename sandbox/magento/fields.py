"""Magento's `?fields=` response trimming: `items[increment_id,entity_id],total_count`."""


def parse_fields(spec: str) -> dict:
    """A fields spec as a tree {name: subtree or None}."""
    tree: dict = {}
    stack = [tree]
    name = ""
    for char in spec:
        if char == "[":
            node: dict = {}
            stack[-1][name.strip()] = node
            stack.append(node)
            name = ""
        elif char == "]":
            if name.strip():
                stack[-1][name.strip()] = None
            name = ""
            if len(stack) > 1:
                stack.pop()
        elif char == ",":
            if name.strip():
                stack[-1][name.strip()] = None
            name = ""
        else:
            name += char
    if name.strip():
        stack[-1][name.strip()] = None
    return tree


def apply_tree(value, tree):
    """Keep only the fields of a parsed spec (see parse_fields); None keeps everything."""
    return _trim(value, tree)


def _trim(value, tree):
    if tree is None:
        return value
    if isinstance(value, list):
        return [_trim(item, tree) for item in value]
    if isinstance(value, dict):
        return {key: _trim(value[key], sub) for key, sub in tree.items() if key in value}
    return value


def apply_fields(value, spec: str):
    """Keep only the requested fields of a response (lists are trimmed element by element)."""
    return _trim(value, parse_fields(spec))
