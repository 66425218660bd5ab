"""The This-Waifu-Does-Not-Exist web page and face API (`waifugan serve`)."""
