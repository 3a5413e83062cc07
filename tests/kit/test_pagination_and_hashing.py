import pytest

from zhibo.kit.hashing import keyed_hash, mask, mask_phone
from zhibo.kit.pagination import InvalidCursor, decode_cursor, encode_cursor


def test_cursor_round_trip() -> None:
    assert decode_cursor(encode_cursor(12345)) == 12345
    assert decode_cursor(None) is None


@pytest.mark.parametrize("bad", ["!!!", "e30", "eyJhZnRlciI6ICJ4In0", "eyJhZnRlciI6IHRydWV9"])
def test_foreign_cursors_are_refused(bad: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(bad)


def test_masks() -> None:
    assert mask("330102199001011234") == "3301**********1234"
    assert mask_phone("13812345678") == "138****5678"
    assert mask("abc") == "***"


def test_keyed_hash_separates_purposes_and_hides_value() -> None:
    a = keyed_hash("13812345678", purpose="phone")
    assert a == keyed_hash(" 13812345678 ", purpose="phone")
    assert a != keyed_hash("13812345678", purpose="resident-id")
    assert "13812345678" not in a and len(a) == 64
