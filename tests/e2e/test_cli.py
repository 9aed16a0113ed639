"""Scenario 7: `opentrail --version`, `check-config`, and `run` with a bad config."""

import re
import subprocess

import pytest

from helpers import BIN, Agent


def run(*args, timeout=20):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def test_version():
    r = run("--version")
    assert r.returncode == 0, r.stderr
    assert re.search(r"\d+\.\d+\.\d+", r.stdout + r.stderr), r.stdout


def test_check_config_good(tmp_path):
    a = Agent(tmp_path / "good", http=True)
    r = run("check-config", str(a.config_path))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip(), "check-config prints a summary"
    assert "audit-logs" in r.stdout
    # nothing started, nothing created
    assert not (a.root / "out").exists() and not (a.root / "data").exists()


# (replacement applied to a good config, key that must be named)
BAD = [
    (("account_id = ", 'bogus_key = 1\naccount_id = '), "bogus_key"),
    (('kind = "file"', 'kind = "file"\nfrobnicate = true'), "frobnicate"),
    (('s3_bucket_name = "audit-logs"', 's3_bucket_name = "audit-logs"\nretention = 3'),
     "retention"),
    (('account_id = "123456789012"', 'account_id = "12345"'), "account_id"),
    (('account_id = "123456789012"', 'account_id = "../../etc/x"'), "account_id"),
    (('s3_bucket_name = "audit-logs"', 's3_bucket_name = "Bad_Bucket"'), "s3_bucket_name"),
    (('s3_bucket_name = "audit-logs"', 's3_bucket_name = "../escape"'), "s3_bucket_name"),
    (('s3_bucket_name = "audit-logs"', 's3_bucket_name = "a..b"'), "s3_bucket_name"),
    (('home_region = "us-east-1"', 'home_region = "US-EAST-1"'), "home_region"),
    (('delivery_interval_secs = 1', 'delivery_interval_secs = 1\nmax_file_bytes = 1000'),
     "max_file_bytes"),
    (('account_id = ', 'memory_limit_mb = 7\naccount_id = '), "memory_limit_mb"),
]


@pytest.mark.parametrize("edit,key", BAD, ids=[k + str(i) for i, (_, k) in enumerate(BAD)])
def test_check_config_bad(tmp_path, edit, key):
    a = Agent(tmp_path / "bad", http=True)
    old, new = edit
    assert old in a.config_text, old
    text = a.config_text.replace(old, new, 1)
    a.config_path.write_text(text)
    r = run("check-config", str(a.config_path))
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert key in r.stderr, r.stderr
    # `run` refuses it the same way, promptly, without starting anything
    r = run("run", "--config", str(a.config_path))
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert key in r.stderr, r.stderr
    assert not (a.root / "out").exists()


def test_check_config_unreadable_and_usage(tmp_path):
    r = run("check-config", str(tmp_path / "missing.toml"))
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "missing.toml" in r.stderr
    (tmp_path / "broken.toml").write_text("data_dir = \n[[[")
    r = run("check-config", str(tmp_path / "broken.toml"))
    assert r.returncode == 2, (r.returncode, r.stderr)
    r = run("run")  # --config missing
    assert r.returncode == 2
    r = run("no-such-command")
    assert r.returncode == 2
