"""Live rooms and their sessions: scheduling, the session state machine and the shelf, and the
media server seen from zhibo: the nginx-rtmp hooks that decide which pushes go on air (renamed
to a public per-session stream name) and the cuts of the pushes of sessions that zhibo suspends
or ends. Viewer events and room metrics live in ``zhibo.events``.
"""
