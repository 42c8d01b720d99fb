"""Matches: a match's lifecycle (``lifecycle``, pure), keeping proposals optimal as the book
changes and following them to fulfilment (``service``), and the handlers of the parties'
answers and the coordinators' commands (``handlers``)."""
