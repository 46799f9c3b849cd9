"""Ask the Hugging Face hub once, briefly, before a step needs it.

Left alone, `datasets` and `transformers` keep retrying an unreachable hub before their error; one
short request tells the same at once, and the step can say how to go on.
"""

import os
import urllib.error
import urllib.request
from typing import Optional

OFFLINE_ADVICE = (
    "To go on without the hub: a folder of CoNLL files (--vars.conll_dir PATH) and a local HF model "
    "folder (--vars.transformer PATH), or the offline demo: spacy project run demo"
)


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def hub_problem(timeout: float = 5.0) -> Optional[str]:
    """Why the hub cannot be asked (offline mode, no route, no name), or None when it answers."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return "HF_HUB_OFFLINE is set"
    try:
        urllib.request.urlopen(urllib.request.Request(hub_endpoint(), method="HEAD"), timeout=timeout)
    except urllib.error.HTTPError:
        return None  # it answered
    except (urllib.error.URLError, OSError) as err:
        return f"{hub_endpoint()} cannot be reached ({getattr(err, 'reason', err)})"
    return None


def go_offline_if_unreachable() -> Optional[str]:
    """Put this process (and its children) in offline mode when the hub is out of reach, so the
    libraries read their cache at once instead of retrying; returns the reason, or None."""
    problem = hub_problem()
    if problem:
        os.environ["HF_HUB_OFFLINE"] = "1"
    return problem
