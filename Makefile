# 政务协同办公: the two commands. `make run` serves with demo data; `make test` runs everything.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 5000
export OFFICE_DEMO_PASSWORD ?= Demo@2026office

.PHONY: run test setup lint bench scaleout clean

run: setup
	@$(BIN)/python -m office init --admin-password "$(OFFICE_DEMO_PASSWORD)"
	@$(BIN)/python -m office demo
	@echo "演示账号密码：$(OFFICE_DEMO_PASSWORD)（管理员 admin；其他账号见 README）"
	PORT=$(PORT) $(BIN)/python -m office serve --port $(PORT)

test: setup
	@bash scripts/test.sh

setup: $(VENV)/.stamp static/vendor/.stamp

$(VENV)/.stamp: requirements.txt requirements-dev.txt requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -r requirements-dev.txt -c requirements.lock
	@touch $@

static/vendor/.stamp: package.json package-lock.json scripts/vendor.sh
	@command -v npm >/dev/null || { echo "需要 Node.js 的 npm 来安装前端资源"; exit 1; }
	bash scripts/vendor.sh
	@touch $@

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: setup
	$(BIN)/python bench/http.py

scaleout: setup
	@bash scripts/scaleout-check.sh

clean:
	rm -rf $(VENV) node_modules static/vendor .pytest_cache
