-- wrk script: every request carries the frame session of one signed-in user.
wrk.headers["X-Frame-Session"] = os.getenv("FLOW_SWITCH_SESSION") or ""
