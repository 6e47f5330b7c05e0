"""Settings for the whole suite: hypothesis examples run without a per-example deadline, because
CI's two cores are shared and a slow example is not a wrong one."""

from hypothesis import settings

settings.register_profile("minillm", deadline=None)
settings.load_profile("minillm")
