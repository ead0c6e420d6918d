# Comptoir build. `make run` starts a node on embedded defaults, `make check` runs
# every test. Missing Debian packages are installed by deploy/install-deps.sh.

PREFIX   ?= /usr/local
DESTDIR  ?=
CC       ?= cc
SANITIZE ?=

PKGS := libzmq lmdb libsodium yaml-0.1 libmicrohttpd gnutls jansson cmocka libcurl sqlite3 vips xlsxwriter

ifeq ($(SANITIZE),)
BUILD := build
SANFLAGS :=
else
BUILD := build-san
SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif

WARN   := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
          -Wno-unused-parameter
CFLAGS ?= -O2 -g
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) -fstack-protector-strong -MMD -MP \
             $(SANFLAGS) $(PKG_CFLAGS) -I. $(CFLAGS)
ALL_LDFLAGS = $(SANFLAGS) $(LDFLAGS)
LIBS = $(PKG_LIBS) -lpthread -lm

# Sources: every .c of a module folder (and of the module folders inside node/)
# goes into the library; node/main.c is the binary.
MODULES  := crypto config sync node $(sort $(dir $(wildcard node/*/*.c)))
LIB_SRC  := $(filter-out node/main.c,$(wildcard $(addsuffix /*.c,$(patsubst %/,%,$(MODULES)))))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:%.c=$(BUILD)/%)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
REPLAY_BIN := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=$(BUILD)/tests/fuzz/replay_%)
TOOL_SRC := $(wildcard tests/tools/*.c)
TOOL_BIN := $(TOOL_SRC:%.c=$(BUILD)/%)
BENCH_SRC := $(wildcard tests/bench/*.c)
BENCH_BIN := $(BENCH_SRC:%.c=$(BUILD)/%)
WEB_SRC  := $(sort $(wildcard node/web/*.html node/web/*.css node/web/*.js node/web/*.svg node/web/*.json))

.PHONY: all run check fuzz bench install clean deps unit demo demo-stop format format-check

all: $(BUILD)/comptoir

# The flags file is made first (make re-reads it): finding the libraries, and
# installing them when they are missing, happens once, before anything compiles.
ifeq ($(filter clean,$(MAKECMDGOALS)),)
-include $(BUILD)/flags.mk
endif
$(BUILD)/flags.mk: deploy/install-deps.sh
	@mkdir -p $(BUILD)
	@pkg-config --exists $(PKGS) || ./deploy/install-deps.sh
	@pkg-config --exists $(PKGS) || { echo "make: libraries still missing: $(PKGS)"; exit 1; }
	@echo "PKG_CFLAGS := $$(pkg-config --cflags $(PKGS))" > $@.tmp
	@echo "PKG_LIBS := $$(pkg-config --libs $(PKGS))" >> $@.tmp
	@mv $@.tmp $@

deps:
	./deploy/install-deps.sh

$(BUILD)/%.o: %.c $(BUILD)/flags.mk
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# Web assets are embedded in the binary as a generated C table.
$(BUILD)/gen/web_assets.c: $(WEB_SRC) deploy/embed.sh
	@mkdir -p $(dir $@)
	./deploy/embed.sh $@ $(WEB_SRC)
$(BUILD)/gen/web_assets.o: $(BUILD)/gen/web_assets.c
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/libcomptoir.a: $(LIB_OBJ) $(BUILD)/gen/web_assets.o
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/comptoir: $(BUILD)/node/main.o $(BUILD)/libcomptoir.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(BUILD)/libcomptoir.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/tools/%: $(BUILD)/tests/tools/%.o $(BUILD)/libcomptoir.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/bench/%: $(BUILD)/tests/bench/%.o $(BUILD)/libcomptoir.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

# Fuzz corpora are replayed by the normal build through a small driver.
$(BUILD)/tests/fuzz/replay_%: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/tests/fuzz/replay.o $(BUILD)/libcomptoir.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)
$(BUILD)/tests/fuzz/replay.o: tests/fuzz/replay_main.c $(BUILD)/flags.mk
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

unit: $(UNIT_BIN)

run: $(BUILD)/comptoir
	./deploy/make-run.sh $(BUILD)/comptoir

check: $(BUILD)/comptoir $(UNIT_BIN) $(REPLAY_BIN) $(TOOL_BIN) $(BENCH_BIN)
	@./deploy/install-browser-deps.sh
	BUILD=$(BUILD) ./tests/run.sh

# The house format (.clang-format) over every C source.
FORMAT_SKIP ?=
FORMAT_SRC = $(filter-out $(FORMAT_SKIP),$(sort $(shell find crypto config sync node tests \
             -name node_modules -prune -o -name '*.[ch]' -print)))
format-check:
	@command -v clang-format >/dev/null || ./deploy/install-deps.sh
	clang-format --dry-run --Werror $(FORMAT_SRC)
format:
	clang-format -i $(FORMAT_SRC)

# libFuzzer needs clang; each target runs FUZZ_SECONDS on its corpus.
FUZZ_SECONDS ?= 60
fuzz: $(BUILD)/flags.mk
	$(MAKE) BUILD=build-fuzz CC=clang SANITIZE= \
	  SANFLAGS="-fsanitize=fuzzer-no-link,address,undefined" fuzz-bins
	./tests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS)

FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=$(BUILD)/tests/fuzz/fuzz_%)
fuzz-bins: $(FUZZ_BIN)
$(BUILD)/tests/fuzz/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/libcomptoir.a
	$(CC) $(SANFLAGS) -fsanitize=fuzzer -o $@ $^ $(LIBS)

bench: $(BUILD)/comptoir $(BENCH_BIN)
	BUILD=$(BUILD) ./tests/bench/run.sh

demo: $(BUILD)/comptoir
	./deploy/demo.sh start $(BUILD)/comptoir
demo-stop:
	./deploy/demo.sh stop

install: $(BUILD)/comptoir
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/doc/comptoir $(DESTDIR)/lib/systemd/system
	install -m 0755 $(BUILD)/comptoir $(DESTDIR)$(PREFIX)/bin/comptoir
	install -m 0644 docs/comptoir.1 $(DESTDIR)$(PREFIX)/share/man/man1/comptoir.1
	install -m 0644 config/comptoir.example.yaml $(DESTDIR)$(PREFIX)/share/doc/comptoir/
	sed 's|/usr/local/bin/comptoir|$(PREFIX)/bin/comptoir|g' deploy/systemd/comptoir.service \
	  > $(DESTDIR)/lib/systemd/system/comptoir.service
	install -d $(DESTDIR)/usr/lib/sysusers.d $(DESTDIR)/usr/lib/tmpfiles.d
	install -m 0644 deploy/systemd/comptoir.sysusers $(DESTDIR)/usr/lib/sysusers.d/comptoir.conf
	install -m 0644 deploy/systemd/comptoir.tmpfiles $(DESTDIR)/usr/lib/tmpfiles.d/comptoir.conf

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
