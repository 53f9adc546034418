#!/usr/bin/env bash
# The Littlest JupyterHub recipe: run as root on the hub's server, after TLJH itself is installed
# (https://tljh.jupyter.org: `curl -L https://tljh.jupyter.org/bootstrap.py | sudo python3 - --admin <you>`).
#
#   sudo bash install-course.sh https://github.com/<you>/<student-edition> [branch] [data folder]
#
# 1. the course's pinned libraries and the student edition's package into TLJH's user environment
#    (once, for every student; the edition holds no answers);
# 2. the data into /srv/data, read-only for students (copied from a folder you give, else downloaded);
# 3. one quick run of the lessons as root, which fills the shared feature cache /srv/cache (read-only
#    for students: their servers read it and write their own caches);
# 4. the hub settings (deploy/tljh/tlcourse.py) and a memory limit that fits TensorFlow.
set -euo pipefail
REPO=${1:?usage: install-course.sh <student edition git URL> [branch] [data folder]}
BRANCH=${2:-main}
DATA_FROM=${3:-}
USER_ENV=/opt/tljh/user
HERE=$(cd "$(dirname "$0")" && pwd)
EDITION=/srv/tlcourse/edition

if [ -d "$EDITION/.git" ]; then git -C "$EDITION" pull --ff-only; else git clone -b "$BRANCH" "$REPO" "$EDITION"; fi
"$USER_ENV/bin/pip" install -r "$EDITION/requirements.txt"
"$USER_ENV/bin/pip" install --no-deps "$EDITION"

mkdir -p /srv/data /srv/cache
if [ -n "$DATA_FROM" ]; then
  cp -r "$DATA_FROM/hymenoptera_data" /srv/data/
fi
# Without a folder, the first run below downloads the ants/bees photos (45 MB) into the data folder.
TLCOURSE_DATA=/srv/data TLCOURSE_CACHE=/srv/cache \
  "$USER_ENV/bin/python" -c 'from tlcourse.datasets import hymenoptera_path; print(hymenoptera_path())'
[ -d /srv/data/hymenoptera_data ] || mv /srv/cache/data/hymenoptera_data /srv/data/
TLCOURSE_DATA=/srv/data TLCOURSE_CACHE=/srv/cache \
  "$USER_ENV/bin/tlcourse" run --quick --lessons "$EDITION/lessons" --out /srv/tlcourse/first-run
chmod -R a+rX,go-w /srv/data /srv/cache

cp "$HERE/tlcourse.py" /opt/tljh/config/jupyterhub_config.d/tlcourse.py
tljh-config set limits.memory 4G   # lessons peak at 1.2-3.4 GB each (kernel RSS, measured); TLJH's default has none
tljh-config reload
echo "done: hand out the links from \`tlcourse links --repo $REPO --hub https://<your hub>\`"
