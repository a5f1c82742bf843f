// push notifications (issue 20)
