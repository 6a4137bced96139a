import logging
from pathlib import Path

import pytest

from slt.adapters.credentials import Credentials, CredentialsError, load_credentials

KEY, SECRET = (
    "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A",
    "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j",
)


def test_environment_credentials_never_show_the_secret(caplog: pytest.LogCaptureFixture) -> None:
    creds = load_credentials({"BINANCE_API_KEY": KEY, "BINANCE_API_SECRET": SECRET})
    assert creds == Credentials(KEY, SECRET)
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("t").debug("using %s / %r / %s", creds, creds, [creds])
    assert SECRET not in caplog.text and KEY not in caplog.text


def test_missing_environment_names_the_variable() -> None:
    with pytest.raises(CredentialsError, match="BINANCE_API_SECRET"):
        load_credentials({"BINANCE_API_KEY": KEY})


def test_key_file_must_be_private(tmp_path: Path) -> None:
    path = tmp_path / "binance.toml"
    path.write_text(f'api_key = "{KEY}"\napi_secret = "{SECRET}"\n')
    path.chmod(0o644)
    with pytest.raises(CredentialsError, match="chmod 600") as info:
        load_credentials({}, path)
    assert SECRET not in str(info.value)
    path.chmod(0o600)
    assert load_credentials({}, path) == Credentials(KEY, SECRET)


def test_broken_key_file_error_does_not_echo_its_content(tmp_path: Path) -> None:
    path = tmp_path / "binance.toml"
    path.write_text(f"api_key = {SECRET}\n")
    path.chmod(0o600)
    with pytest.raises(CredentialsError) as info:
        load_credentials({}, path)
    assert SECRET not in str(info.value)
