"""The Python checks of scripts/check-template.sh, one module per check.

They run with the SAM CLI's own Python (.tools/sam/bin/python: the transform check imports
samtranslator, which is there and not in the project venv), from the repository root:

    PYTHONPATH=scripts .tools/sam/bin/python -m template_checks COMMAND ARGS...

`python -m template_checks --help` lists the commands. Each prints one line per thing it
checked and exits non-zero on any failure. They use only the standard library, samtranslator
and packaging (both in the SAM CLI's venv); ruff and mypy --strict check them with the rest
of the project.
"""
