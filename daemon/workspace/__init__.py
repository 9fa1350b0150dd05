"""The incident workspace: what a responder sees and does on an incident's page.

``hypotheses`` folds the responders' hypothesis log into candidate states;
``view`` assembles an incident's full view (plots, timeline, changes, health) and
``model`` reads it typed for the renderers;
``postmortem`` renders the draft; ``updates`` sends findings to the page's
receivers; ``service`` ties them together over the store and the small protocols of
:mod:`daemon.core.ports` (what the core knows, where feedback and notes go). The workspace may
import the core, ``correlators``, the store and the renderers of ``notify``; never the runtime.
"""
