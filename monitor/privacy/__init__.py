"""People's rights over what is held about them: finding, exporting and erasing one person's data
(`subject`), and the description a school's data protection impact assessment needs
(`describe`)."""
