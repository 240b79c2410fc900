"""Write the Markdown golden files from the renderings their tests compare them with.

Run by hand after a deliberate change to a report (``make golden``), then review ``git diff``.
Tests never write golden files: a mismatch fails and leaves ``<name>.md.actual`` beside it.
"""

from __future__ import annotations

import sys

from tests.reports import test_markdown


def main() -> int:
    """Write every golden file of :data:`test_markdown.RENDERINGS`; print what changed."""
    for name, render in test_markdown.RENDERINGS.items():
        path = test_markdown.GOLDEN / f"{name}.md"
        text = render()
        before = path.read_text(encoding="utf-8") if path.is_file() else None
        if text == before:
            status = "unchanged"
        else:
            path.write_text(text, encoding="utf-8")
            status = "written" if before is None else "rewritten"
        path.with_name(path.name + ".actual").unlink(missing_ok=True)
        print(f"{path.name}: {status}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
