"""Field types shared by the schemas: strings that refuse NUL/control characters, and emails."""

from __future__ import annotations

import unicodedata
from typing import Any

from email_validator import EmailNotValidError, validate_email
from marshmallow import ValidationError, fields

# Control characters other than tab/newline, plus bidi overrides that make text lie about itself.
_FORBIDDEN = {chr(c) for c in range(0x00, 0x20) if chr(c) not in "\t\n\r"} | {"\x7f"}
_BIDI_OVERRIDES = {"\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"}


MAX_COMBINING_RUN = 4  # more marks stacked on one letter is "Zalgo" text, not a real name


def _longest_combining_run(text: str) -> int:
    """The most combining marks stacked on one base character."""
    longest = run = 0
    for ch in text:
        run = run + 1 if unicodedata.combining(ch) else 0
        longest = max(longest, run)
    return longest


class SafeString(fields.String):
    """A string without NUL or control characters; optionally single-line, trimmed, NFKC-normalised."""

    def __init__(
        self,
        *,
        max_length: int,
        min_length: int = 0,
        multiline: bool = False,
        strip: bool = True,
        normalize: bool = True,
        **kwargs: Any,
    ) -> None:
        """Lengths are in characters after normalisation."""
        super().__init__(**kwargs)
        self.max_length = max_length
        self.min_length = min_length
        self.multiline = multiline
        self.strip = strip
        self.normalize = normalize

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if len(text) > self.max_length * 4:
            # Refuse absurd input before normalising it (NFKC can be slow on huge strings).
            raise ValidationError(f"Must be at most {self.max_length} characters.")
        if self.normalize:
            text = unicodedata.normalize("NFKC", text)
        if self.strip:
            text = text.strip()
        bad = _FORBIDDEN if self.multiline else _FORBIDDEN | {"\t", "\n", "\r"}
        if any(ch in bad for ch in text):
            raise ValidationError("Must not contain control characters.")
        if any(ch in _BIDI_OVERRIDES for ch in text):
            raise ValidationError("Must not contain bidirectional override characters.")
        if any(unicodedata.category(ch) in {"Cs", "Co", "Cn"} for ch in text):
            raise ValidationError("Must not contain unassigned or private-use characters.")
        if _longest_combining_run(text) > MAX_COMBINING_RUN:
            raise ValidationError(
                f"Must not stack more than {MAX_COMBINING_RUN} combining marks on one character."
            )
        if len(text) > self.max_length:
            raise ValidationError(f"Must be at most {self.max_length} characters.")
        if len(text) < self.min_length:
            if self.min_length == 1:
                raise ValidationError("Must not be empty.")
            raise ValidationError(f"Must be at least {self.min_length} characters.")
        return text


class Password(fields.String):
    """A password as typed: not normalised or trimmed, but NUL and absurd lengths refused."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise ValidationError("Must not contain NUL characters.")
        if len(text) > 1024:
            raise ValidationError("Password is far too long (bcrypt reads at most 72 bytes).")
        if not text:
            raise ValidationError("Must not be empty.")
        return text


# Scripts that legitimately share one domain label (Japanese and Korean writing mix them).
_COMPATIBLE_SCRIPTS = ({"CJK", "HIRAGANA", "KATAKANA"}, {"CJK", "HANGUL"})


def _label_scripts(label: str) -> set[str]:
    """The scripts of the letters in one domain label (first word of each letter's Unicode name)."""
    scripts = set()
    for ch in label:
        if unicodedata.category(ch).startswith("L"):
            scripts.add(unicodedata.name(ch, "UNKNOWN").split()[0])
    return scripts


def _is_mixed_script(label: str) -> bool:
    """True for a label mixing scripts (e.g. Latin with a Cyrillic 'а'): the homoglyph trick."""
    scripts = _label_scripts(label)
    return len(scripts) > 1 and not any(scripts <= allowed for allowed in _COMPATIBLE_SCRIPTS)


def normalize_email(raw: str) -> str:
    """Trim, NFKC-normalise and validate an address; returns it with the domain lower-cased.

    Confusables policy: the local part must be ASCII (no SMTPUTF8 mailboxes, so `раypal@` with a
    Cyrillic 'р' cannot shadow `paypal@`), and an internationalised domain is accepted only when
    each label is written in one script.
    """
    text = unicodedata.normalize("NFKC", raw.strip())
    if len(text) > 254:
        raise ValidationError("Email address is too long.")
    try:
        result = validate_email(text, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise ValidationError(f"Not a valid email address: {exc}") from exc
    if any(_is_mixed_script(label) for label in result.domain.split(".")):
        raise ValidationError(
            "Not a valid email address: the domain mixes alphabets (e.g. Latin and Cyrillic)."
        )
    return result.normalized


class Email(fields.String):
    """An email address, normalised by normalize_email."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if len(text) > 1024 or any(ch in _FORBIDDEN for ch in text):
            raise ValidationError("Not a valid email address.")
        return normalize_email(text)
