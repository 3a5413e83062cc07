"""Live rooms and their sessions: scheduling, the session state machine and the shelf.

RTMP hooks, the viewer-event pipeline and real-time room metrics grow here (issue: live rooms).
"""
