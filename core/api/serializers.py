from rest_framework import serializers


class StrictSerializerMixin:
    """Refuse unknown fields instead of silently ignoring them: a typo must not look like success."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            known = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(set(data) - known)
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


class StrictSerializer(StrictSerializerMixin, serializers.Serializer):
    pass


class StrictModelSerializer(StrictSerializerMixin, serializers.ModelSerializer):
    pass


class EmptySerializer(StrictSerializer):
    """The input of an action that takes none: a malformed body or any field sent is refused, so a typo never
    looks like success."""


def no_input(request) -> None:
    """Refuse a body on an action that takes no input (400 in the error shape), before it does anything."""
    EmptySerializer(data=request.data).is_valid(raise_exception=True)
