"""The incident workspace: what a responder sees and does on an incident's page.

``hypotheses`` folds the responders' hypothesis log into candidate states;
``view`` assembles an incident's full view (plots, timeline, changes, health) and
``model`` reads it typed for the renderers;
``postmortem`` renders the draft; ``updates`` sends findings to the page's
receivers; ``service`` ties them to a running :class:`~daemon.service.Daemon`.
"""
