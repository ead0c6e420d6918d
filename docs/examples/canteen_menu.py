#!/usr/bin/env python3
"""Posts the day's canteen menu to a space with an API token (scope "write").
COMPTOIR_URL=https://intranet.example COMPTOIR_TOKEN=cpt_... COMPTOIR_SPACE=<space id> \\
python3 canteen_menu.py menu.txt    (cron: 30 7 * * 1-5, every working morning)"""
import json
import os
import sys
import time
import urllib.error
import urllib.request

url = os.environ.get("COMPTOIR_URL", "http://127.0.0.1:8080").rstrip("/")
token, space = os.environ["COMPTOIR_TOKEN"], os.environ.get("COMPTOIR_SPACE")
menu = open(sys.argv[1], encoding="utf-8").read().strip() if len(sys.argv) > 1 else "(no menu)"
body = {"text": "Menu du %s\n\n%s" % (time.strftime("%d/%m/%Y"), menu)}
if space:
    body["space"] = space
req = urllib.request.Request(url + "/api/v1/posts", data=json.dumps(body).encode(),
                             method="POST", headers={"Authorization": "Bearer " + token,
                                                     "Content-Type": "application/json"})
for attempt in range(5):
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            print("posted", json.load(r)["id"])
            sys.exit(0)
    except urllib.error.HTTPError as e:
        if e.code != 429:  # a refusal says why: a bad token, a missing scope, a bad space
            sys.exit("refused (%d): %s" % (e.code, e.read().decode(errors="replace")))
        time.sleep(int(e.headers.get("Retry-After", "5")))  # rate limit: wait as told
sys.exit("still rate-limited after 5 attempts")
