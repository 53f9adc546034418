# The Littlest JupyterHub: copy to /opt/tljh/config/jupyterhub_config.d/tlcourse.py, then `tljh-config reload`.
# (install-course.sh does both.) Every student's server reads one copy of the data and of the
# instructor-filled feature cache, both read-only, and writes its own cache under ~/.cache/tlcourse.
c = get_config()  # noqa: F821 (JupyterHub provides it)
c.Spawner.environment.update(
    {
        "TLCOURSE_DATA": "/srv/data",
        "TLCOURSE_CACHE_SHARED": "/srv/cache",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
)
c.Spawner.default_url = "/lab"
