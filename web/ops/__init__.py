"""What operators and their monitors ask of the web app: `GET /health` (`health`).

Readiness and metrics endpoints belong here too.
"""
