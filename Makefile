# 政务协同办公: the two commands. `make run` serves with demo data; `make test` runs everything.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 5000
export OFFICE_DEMO_PASSWORD ?= Demo@2026office

.PHONY: run test setup fonts lint bench scaleout clean

run: setup fonts
	@$(BIN)/python -m office init --admin-password "$(OFFICE_DEMO_PASSWORD)"
	@$(BIN)/python -m office demo
	@echo "演示账号密码：$(OFFICE_DEMO_PASSWORD)（管理员 admin；其他账号见 README）"
	PORT=$(PORT) $(BIN)/python -m office serve --port $(PORT)

test: setup
	@bash scripts/test.sh

setup: $(VENV)/.stamp static/vendor/.stamp

# A CJK font draws the seal images (电子印章); installed from Debian when missing and we are root.
fonts:
	@fc-list 2>/dev/null | grep -qiE "wqy|noto.*cjk" || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-zenhei) >/tmp/office-fonts.log 2>&1 \
	  || echo "未找到中文字体：演示印章不会生成（apt-get install fonts-wqy-zenhei）"; }

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
