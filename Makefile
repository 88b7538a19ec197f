# The two commands of the README. Each installs what it needs first (idempotent, seconds when done).
PY := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: install demo test lint clean

install:
	@bash tools/install.sh

demo: install
	@$(PY) tools/demo.py

# pytest exits 5 when it collects nothing: that is a failure here, with a message.
test: install
	@$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc = 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; exit $$rc

lint: install
	@$(PY) -m ruff check .

clean:
	rm -rf work_dirs .pytest_cache .ruff_cache
