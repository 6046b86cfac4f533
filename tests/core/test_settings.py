import os
import subprocess
import sys

from cryptography.fernet import Fernet
from django.conf import settings

MANAGE = [sys.executable, str(settings.BASE_DIR / "manage.py")]


def _production_env(**overrides):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "SECRET", "FIELD", "DEBUG"))}
    env.update(
        DJANGO_ENV="production",
        SECRET_KEY="p" + Fernet.generate_key().decode() + Fernet.generate_key().decode(),
        FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="ledgerbridge.example.com",
        DATABASE_URL=os.environ.get("DATABASE_URL", "sqlite:///prod-check.sqlite3"),
    )
    env.update(overrides)
    return env


def test_check_deploy_passes_in_production_mode():
    result = subprocess.run(
        [*MANAGE, "check", "--deploy", "--fail-level", "WARNING"],
        env=_production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_development_defaults():
    for overrides, expected in (
        ({"SECRET_KEY": "dev-insecure-secret-key-change-me"}, "SECRET_KEY"),
        ({"DEBUG": "true"}, "DEBUG"),
        ({"FIELD_ENCRYPTION_KEYS": ""}, "FIELD_ENCRYPTION_KEYS"),
    ):
        result = subprocess.run(
            [*MANAGE, "check"], env=_production_env(**overrides), capture_output=True, text=True, timeout=120
        )
        assert result.returncode != 0
        assert "Refusing to start in production" in result.stderr and expected in result.stderr
