"""The unified to-do list (统一待办): one table and one service every module uses."""
