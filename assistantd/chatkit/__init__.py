"""ChatKit (beta): sessions, the operator's REST view of threads, and the conversation endpoint.

``sessions`` mints and checks client secrets; ``store`` keeps the ``openai-chatkit`` library's threads
and items in our database; ``threads`` renders them for the REST routes; ``server`` answers the
conversation by running the session's assistant through our run engine.
"""
