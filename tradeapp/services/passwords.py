"""Password rules (length, common passwords, similarity, all-digits) and hashing."""

import gzip
import re
from difflib import SequenceMatcher
from functools import cache
from pathlib import Path

from flask import current_app
from werkzeug.security import check_password_hash, generate_password_hash

COMMON_PASSWORDS_FILE = Path(__file__).resolve().parent.parent / "data" / "common-passwords.txt.gz"
MAX_LENGTH = 128
SIMILARITY = 0.7


@cache
def common_passwords() -> frozenset[str]:
    with gzip.open(COMMON_PASSWORDS_FILE, "rt", encoding="utf-8") as fh:
        return frozenset(line.strip().lower() for line in fh if line.strip())


def _too_similar(password: str, attributes: list[str]) -> bool:
    pw = password.lower()
    for value in attributes:
        if not value:
            continue
        value = value.lower()
        parts = [value, *re.split(r"\W+", value)]
        for part in parts:
            if len(part) < 3:
                continue
            if part in pw and len(part) >= len(pw) / 2:
                return True
            if SequenceMatcher(a=pw, b=part).quick_ratio() >= SIMILARITY and (
                SequenceMatcher(a=pw, b=part).ratio() >= SIMILARITY
            ):
                return True
    return False


def password_problems(password: str, *, email: str = "", username: str = "", names: tuple[str, ...] = ()) -> list[str]:
    """Every reason ``password`` is not acceptable; empty when it is."""
    problems = []
    min_length = current_app.config["PASSWORD_MIN_LENGTH"]
    if len(password) < min_length:
        problems.append(f"Use at least {min_length} characters.")
    if len(password) > MAX_LENGTH:
        problems.append(f"Use at most {MAX_LENGTH} characters.")
    if password.isdigit():
        problems.append("The password cannot be entirely numeric.")
    if password.lower() in common_passwords():
        problems.append("This password is too common.")
    if _too_similar(password, [email, email.split("@")[0], username, *names]):
        problems.append("The password is too similar to your personal details.")
    return problems


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def verify_password(password_hash: str, password: str) -> bool:
    return check_password_hash(password_hash, password)


# A real hash to compare against when the account does not exist, so timing does not
# reveal which e-mail addresses are registered.
@cache
def _dummy_hash(method: str) -> str:
    return generate_password_hash("not-a-real-password", method=method)


def burn_password_check(password: str) -> None:
    check_password_hash(_dummy_hash(current_app.config["PASSWORD_HASH_METHOD"]), password)
