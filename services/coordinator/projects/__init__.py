"""Cross-sector joint projects (跨界项目): two or more parties of different kinds working
together, with members and roles, milestones, progress reports, budget lines that may draw on a
special fund's share, and a closing report; started by a party or by a joint meeting's decision."""
